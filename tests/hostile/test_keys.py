"""Hostile key files: keys of other types and algorithms, public halves, encrypted keys, garbage, devices and FIFOs,
given to ``sign``, ``export --key`` and ``verify --pubkey``."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dh, ec, ed448, ed25519, rsa, x448, x25519

from tests.factories import write_result_folder
from tests.hostile.corpus import fifo
from tests.hostile.support import handled

PEM, PKCS8, SPKI = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.PublicFormat
NONE = serialization.NoEncryption()


def _private(key) -> bytes:
    return key.private_bytes(PEM, PKCS8, NONE)


def _public(key) -> bytes:
    return key.public_key().public_bytes(PEM, SPKI.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def keys():
    """name -> bytes of a key file that is not an Ed25519 key (or not one this command can use)."""
    import warnings

    with warnings.catch_warnings():  # finite-field Diffie-Hellman is deprecated: made here to be refused
        warnings.simplefilter("ignore")
        params = dh.generate_parameters(generator=2, key_size=512)
        made = {"rsa": rsa.generate_private_key(65537, 1024), "ec": ec.generate_private_key(ec.SECP256R1()),
                "ed448": ed448.Ed448PrivateKey.generate(), "x25519": x25519.X25519PrivateKey.generate(),
                "x448": x448.X448PrivateKey.generate(), "dh": params.generate_private_key()}
        out = {f"{name}-private": _private(key) for name, key in made.items()}
        out.update({f"{name}-public": _public(key) for name, key in made.items()})
        out["dh-parameters"] = params.parameter_bytes(PEM, serialization.ParameterFormat.PKCS3)
    ed = ed25519.Ed25519PrivateKey.generate()
    out["encrypted"] = ed.private_bytes(PEM, PKCS8, serialization.BestAvailableEncryption(b"pw"))
    out["empty"] = b""
    out["garbage"] = b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n"
    out["binary"] = bytes(range(256)) * 4
    out["huge"] = b"A" * (1 << 20)
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_result_folder(tmp_path_factory.mktemp("k") / "r", [0.5, 0.5, 0.5], duration_s=2.0, idle_s=2.0,
                               warmup_s=1.0)


NAMES = ["rsa-private", "ec-private", "ed448-private", "x25519-private", "x448-private", "dh-private",
         "rsa-public", "ec-public", "ed448-public", "x25519-public", "x448-public", "dh-public", "dh-parameters",
         "encrypted", "empty", "garbage", "binary", "huge"]


@pytest.mark.parametrize("name", NAMES)
def test_every_key_command_refuses_a_key_it_cannot_use_in_one_line(keys, folder, tmp_path, name):
    key = tmp_path / "key.pem"
    key.write_bytes(keys[name])
    before = (folder / "result.json").read_bytes()
    for args in (["sign", "-k", str(key), str(folder)], ["export", "-k", str(key), "-o", str(tmp_path / "b.tar.gz"),
                                                          str(folder)]):
        res = handled(*args, codes=(2,))
        assert len(res.err.strip().splitlines()) == 1 and str(key) in res.err, res.err
    assert (folder / "result.json").read_bytes() == before and not (tmp_path / "b.tar.gz").exists()
    if not name.endswith("-private") or name.startswith(("rsa", "ec", "dh", "x")):
        res = handled("verify", "--pubkey", str(key), str(folder), codes=(2,))
        assert len(res.err.strip().splitlines()) == 1


@pytest.mark.parametrize("text", ["", "!!!", base64.b64encode(b"x" * 31).decode(), "A" * 5000, "\x1b[31m"])
def test_verify_refuses_a_pubkey_text_that_is_not_a_key(folder, text):
    res = handled("verify", "--pubkey", text, str(folder), codes=(2,))
    assert len(res.err.strip().splitlines()) == 1


@pytest.mark.parametrize("make", [fifo, lambda p: p.symlink_to("/dev/zero"), lambda p: p.mkdir()],
                         ids=["fifo", "dev-zero", "folder"])
def test_a_key_path_that_is_not_a_regular_file(folder, tmp_path, make):
    key = tmp_path / "key.pem"
    make(key)
    handled("sign", "-k", str(key), str(folder), codes=(2,))
    res = handled("verify", "--pubkey", str(key), str(folder), codes=(2,))
    assert "not a regular file" in res.err
