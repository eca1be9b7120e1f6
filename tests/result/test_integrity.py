import io
import json
import random
import shutil
import stat
import tarfile

import pytest

from bench.errors import ResultError, UsageError
from bench.result.bundle import MANIFEST, export_bundle, import_bundle
from bench.result.integrity import (
    BAD_SIGNATURE,
    EDITED,
    SIGNED,
    UNSIGNED,
    UNTRUSTED,
    check_folder,
    generate_keypair,
    layout_bytes,
    load_private_key,
    load_public_key,
    sign_folder,
)
from tests import ROOT
from tests.factories import write_result_folder


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    mine = generate_keypair(d / "mine")
    other = generate_keypair(d / "other")
    return {"mine": mine, "other": other}


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    return write_result_folder(tmp_path_factory.mktemp("sealed") / "run", [1.0, 1.02, 0.98], device="Acme X1")


@pytest.fixture
def fresh(sealed, tmp_path):
    return shutil.copytree(sealed, tmp_path / "run")


@pytest.fixture
def signed(fresh, keys):
    sign_folder(fresh, load_private_key(keys["mine"][0]))
    return fresh


def _state(folder):
    try:
        return check_folder(folder).state
    except ResultError:
        return "unreadable"


def test_a_fresh_result_is_intact_and_unsigned(fresh):
    check = check_folder(fresh)
    assert check.state == UNSIGNED and check.ok and check.problems == []
    assert check.digest == json.loads((fresh / "result.json").read_text())["integrity"]["digest"]


def test_the_layout_check_matches_the_writer(fresh):
    raw = (fresh / "result.json").read_bytes()
    assert layout_bytes(json.loads(raw)) == raw


def test_sign_then_verify_with_the_right_and_the_wrong_key(signed, keys):
    mine, other = load_public_key(keys["mine"][1]), load_public_key(keys["other"][1])
    assert check_folder(signed).state == SIGNED
    assert check_folder(signed, trusted=[mine]).state == SIGNED
    check = check_folder(signed, trusted=[other])
    assert check.state == UNTRUSTED and not check.ok and "not among the trusted keys" in check.detail


def test_a_signature_made_by_another_key_fails(signed, keys, fresh):
    data = json.loads((signed / "result.json").read_text())
    other_pub = load_public_key(keys["other"][1])
    import base64

    from cryptography.hazmat.primitives import serialization

    data["integrity"]["public_key"] = base64.b64encode(
        other_pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()
    (signed / "result.json").write_bytes(layout_bytes(data))
    check = check_folder(signed)
    assert check.state == BAD_SIGNATURE and "signature does not verify" in check.detail


@pytest.mark.parametrize("which", ["unsigned", "signed"])
def test_every_single_byte_change_in_result_json_is_detected(which, fresh, keys):
    if which == "signed":
        sign_folder(fresh, load_private_key(keys["mine"][0]))
    original = (fresh / "result.json").read_bytes()
    rng = random.Random(11)
    # every byte of the integrity block, plus a spread of positions over the rest of the file
    tail = original.rindex(b'"integrity"')
    positions = sorted(set(range(tail, len(original))) | set(rng.sample(range(tail), 250)))
    missed = []
    for pos in positions:
        for new in {original[pos] ^ 0x01, rng.choice(b' \t\n0123456789eE.-+"abcxyzAZ=/'), rng.randrange(256)}:
            if new == original[pos]:
                continue
            blob = bytearray(original)
            blob[pos] = new
            (fresh / "result.json").write_bytes(bytes(blob))
            if _state(fresh) in (SIGNED, UNSIGNED):
                missed.append((pos, bytes([original[pos]]), bytes([new])))
    (fresh / "result.json").write_bytes(original)
    assert _state(fresh) == (SIGNED if which == "signed" else UNSIGNED)
    assert missed == []


def test_every_single_byte_change_in_the_trace_is_detected(fresh):
    trace = fresh / "trace.parquet"
    original = trace.read_bytes()
    rng = random.Random(5)
    for pos in rng.sample(range(len(original)), 60) + [0, len(original) - 1]:
        blob = bytearray(original)
        blob[pos] = (blob[pos] + rng.randrange(1, 256)) % 256
        trace.write_bytes(bytes(blob))
        check = check_folder(fresh)
        assert check.state == EDITED and "trace.parquet does not match its digest" in check.detail
    trace.unlink()
    assert "trace.parquet is missing" in check_folder(fresh).detail


def test_whitespace_only_edits_are_detected(fresh):
    raw = (fresh / "result.json").read_bytes()
    (fresh / "result.json").write_bytes(raw.replace(b'  "status"', b'\t"status"', 1))
    check = check_folder(fresh)
    assert check.state == EDITED and "layout" in check.detail


def test_signing_refuses_an_edited_result(fresh, keys):
    data = json.loads((fresh / "result.json").read_text())
    data["device"]["name"] = "Better Chip"
    (fresh / "result.json").write_bytes(layout_bytes(data))
    with pytest.raises(ResultError, match="refusing to sign an edited result"):
        sign_folder(fresh, load_private_key(keys["mine"][0]))


def test_keygen_writes_a_private_key_only_its_owner_can_read(tmp_path):
    priv, pub = generate_keypair(tmp_path / "k")
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(UsageError, match="refusing to overwrite"):
        generate_keypair(tmp_path / "k")
    with pytest.raises(UsageError, match="not an Ed25519 public key"):
        load_public_key("not a key")


# --- the commands ----------------------------------------------------------------------------


def test_cli_keygen_sign_verify(cli, tmp_path, fresh):
    res = cli("keygen", "-o", str(tmp_path / "key"))
    assert res.code == 0 and "fingerprint" in res.output
    res = cli("verify", str(fresh))
    assert res.code == 0 and "intact, unsigned" in res.output
    res = cli("verify", "--require-signature", str(fresh))
    assert res.code == 1
    res = cli("sign", str(fresh), "--key", str(tmp_path / "key"))
    assert res.code == 0 and "signed" in res.output
    res = cli("verify", str(fresh), "--pubkey", str(tmp_path / "key.pub"))
    assert res.code == 0 and "intact, signed" in res.output


def test_cli_verify_names_every_bad_input_and_still_checks_the_rest(cli, tmp_path, sealed, keys):
    good = shutil.copytree(sealed, tmp_path / "good")
    edited = shutil.copytree(sealed, tmp_path / "edited")
    data = json.loads((edited / "result.json").read_text())
    stat = data["workloads"][0]["aggregate"]["energy_per_unit_j"]
    stat["mean"] = stat["ci95_low"]  # a better figure, still a valid result: only the digest tells
    (edited / "result.json").write_bytes(layout_bytes(data))
    (tmp_path / "notaresult").mkdir()
    (tmp_path / "notaresult" / "readme.txt").write_text("x")
    trunc = shutil.copytree(sealed, tmp_path / "trunc")
    (trunc / "result.json").write_bytes((sealed / "result.json").read_bytes()[:-40])
    newer = shutil.copytree(sealed, tmp_path / "newer")
    data = json.loads((newer / "result.json").read_text())
    data["schema_version"] = "2.0"
    (newer / "result.json").write_bytes(layout_bytes(data))
    badtrace = shutil.copytree(sealed, tmp_path / "badtrace")
    (badtrace / "trace.parquet").write_bytes((badtrace / "trace.parquet").read_bytes() + b"\0")
    signed_other = shutil.copytree(sealed, tmp_path / "other")
    sign_folder(signed_other, load_private_key(keys["other"][0]))

    res = cli(*["verify", "--json", "--pubkey", str(keys["mine"][1])] +
                             [str(p) for p in (good, edited, tmp_path / "notaresult", trunc, newer, badtrace,
                                               signed_other)])
    assert res.code == 1
    rows = {json.loads(line)["path"]: json.loads(line) for line in res.output.splitlines() if line.startswith("{")}
    assert rows[str(good)]["state"] == "unsigned"
    assert rows[str(edited)]["state"] == "edited" and "content does not match its digest" in rows[str(edited)]["detail"]
    assert "not a result folder" in rows[str(tmp_path / "notaresult")]["detail"]
    assert "truncated JSON" in rows[str(trunc)]["detail"]
    assert "newer than this harness" in rows[str(newer)]["detail"]
    assert "trace.parquet does not match its digest" in rows[str(badtrace)]["detail"]
    assert rows[str(signed_other)]["state"] == "untrusted-key"


# --- bundles ---------------------------------------------------------------------------------


def test_export_then_import_round_trip(tmp_path, sealed, keys):
    a = shutil.copytree(sealed, tmp_path / "in" / "a")
    b = write_result_folder(tmp_path / "in" / "b", [0.5, 0.5, 0.51])
    sign_folder(b, load_private_key(keys["mine"][0]))
    bundle = tmp_path / "sub.tar.gz"
    report = export_bundle([a, b], bundle, load_private_key(keys["mine"][0]))
    assert report.done == ["a", "b"] and report.refused == []
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile(MANIFEST).read())
    assert "results/a/result.json" in names and "results/b/trace.parquet" in names
    assert [e["digest"] for e in manifest["results"]] == [check_folder(a).digest, check_folder(b).digest]
    got = import_bundle(bundle, tmp_path / "out", trusted=[load_public_key(keys["mine"][1])])
    assert got.done == ["a", "b"] and got.refused == [] and got.signer
    assert (tmp_path / "out" / "a" / "result.json").read_bytes() == (a / "result.json").read_bytes()
    assert check_folder(tmp_path / "out" / "b").state == SIGNED
    again = import_bundle(bundle, tmp_path / "out")  # the same bundle twice: nothing to do, nothing wrong
    assert again.done == [] and again.refused == [] and again.identical == ["a", "b"]
    trace = tmp_path / "out" / "b" / "trace.parquet"
    trace.write_bytes(trace.read_bytes() + b"x")  # a result in place whose trace differs is not overwritten
    third = import_bundle(bundle, tmp_path / "out")
    assert third.identical == ["a"] and [n for n, _ in third.refused] == ["b"]
    assert "exists and differs; not overwritten" in third.refused[0][1]
    with pytest.raises(ResultError, match="not among the trusted keys"):
        import_bundle(bundle, tmp_path / "out2", trusted=[load_public_key(keys["other"][1])])


def _rewrite(bundle, out, change):
    """Copy a bundle, letting ``change(name, data)`` return new bytes (or None to drop the member)."""
    with tarfile.open(bundle) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = change(member.name, src.extractfile(member).read())
            if data is not None:
                member.size = len(data)
                dst.addfile(member, io.BytesIO(data))
    return out


def test_import_refuses_tampered_members_and_paths_escaping_the_target(tmp_path, sealed):
    bundle = tmp_path / "b.tar.gz"
    export_bundle([sealed], bundle)
    name = sealed.name

    def flip(member, data):
        return data[:-1] + bytes([data[-1] ^ 1]) if member.endswith("trace.parquet") else data

    report = import_bundle(_rewrite(bundle, tmp_path / "t.tar.gz", flip), tmp_path / "out1")
    assert report.done == [] and "does not match the manifest" in report.refused[0][1]
    assert not (tmp_path / "out1" / name).exists()

    evil = tmp_path / "evil.tar.gz"
    shutil.copy(bundle, evil)
    with tarfile.open(bundle) as src, tarfile.open(evil, "w:gz") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member))
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        dst.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(ResultError, match="outside the target folder"):
        import_bundle(evil, tmp_path / "out2")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "out2" / name).exists()

    link = tmp_path / "link.tar.gz"
    with tarfile.open(link, "w:gz") as dst:
        info = tarfile.TarInfo("results/x/result.json")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        dst.addfile(info)
    with pytest.raises(ResultError, match="not a plain file"):
        import_bundle(link, tmp_path / "out3")


def test_cli_export_skips_edited_results_and_exits_1(cli, tmp_path, sealed):
    good = shutil.copytree(sealed, tmp_path / "good")
    bad = shutil.copytree(sealed, tmp_path / "bad")
    (bad / "trace.parquet").write_bytes(b"not the trace")
    res = cli("export", str(good), str(bad), "-o", str(tmp_path / "s.tar.gz"))
    assert res.code == 1 and "not exported" in res.output and "bad" in res.output
    res = cli("import", str(tmp_path / "s.tar.gz"), "-o", str(tmp_path / "in"))
    assert res.code == 0 and (tmp_path / "in" / "good" / "result.json").is_file()
    assert not (tmp_path / "in" / "bad").exists()
    again = cli("import", str(tmp_path / "s.tar.gz"), "-o", str(tmp_path / "in"))
    assert again.code == 0, again.output
    assert f"already imported, identical: {tmp_path / 'in' / 'good'}" in again.out
    assert "nothing new: all 1 result(s)" in again.out and again.err == ""


def test_node_traces_of_a_distributed_run_are_covered_too(fresh, tmp_path):
    from bench.result.io import content_digest, file_sha256

    node_trace = fresh / "trace.node-1.parquet"
    node_trace.write_bytes(b"PAR1 node one samples PAR1")
    data = json.loads((fresh / "result.json").read_text())
    node = {"host": "lab", "leader": 0, "ranks": [0]}
    data["distributed"] = {"launcher": "torchrun", "backend": "gloo", "world_size": 3, "nnodes": 3, "nodes": [
        {**node, "node": 1, "trace": {"path": node_trace.name, "sha256": file_sha256(node_trace)},
         "trace_location": "result_folder"},
        {**node, "node": 2, "trace": {"path": "trace.node-2.parquet", "sha256": "0" * 64},
         "trace_location": "node_local"}]}
    data.pop("integrity")
    data["integrity"] = {"algorithm": "sha256", "digest": content_digest(data), "signature": None, "public_key": None}
    (fresh / "result.json").write_bytes(layout_bytes(data))
    assert check_folder(fresh).state == UNSIGNED  # node 2's trace stays on its host: not expected here
    report = export_bundle([fresh], tmp_path / "d.tar.gz")
    assert "trace.node-1.parquet" in report.manifest["results"][0]["files"]
    node_trace.write_bytes(b"PAR1 node one edited  PAR1")
    check = check_folder(fresh)
    assert check.state == EDITED and "trace.node-1.parquet does not match its digest" in check.detail


# --- digest format 2: every file of the folder is covered ------------------------------------------------------

FORMAT1 = {"signed": ROOT / "tests" / "data" / "format1-signed", "unsigned": ROOT / "tests" / "data" / "format1-unsigned"}


def test_a_new_result_lists_every_file_it_covers_under_its_digest(fresh):
    integ = json.loads((fresh / "result.json").read_text())["integrity"]
    assert integ["format"] == 2 and integ["files"] == ["result.json", "trace.parquet"]
    data = json.loads((fresh / "result.json").read_text())
    data["integrity"]["files"] = ["result.json"]  # drop the trace from the list, keep the digest
    (fresh / "result.json").write_bytes(layout_bytes(data))
    assert check_folder(fresh).state == EDITED


@pytest.mark.parametrize("which", sorted(FORMAT1))
def test_results_sealed_before_the_file_list_still_verify(which, tmp_path, cli):
    """Folders written and signed by the harness before digest format 2 (committed as they were written)."""
    folder = shutil.copytree(FORMAT1[which], tmp_path / which)
    assert "format" not in json.loads((folder / "result.json").read_text())["integrity"]
    assert check_folder(folder).state == (SIGNED if which == "signed" else UNSIGNED)
    assert cli("verify", str(folder)).code == 0 and cli("show", str(folder)).code == 0
    (folder / "extra.bin").write_bytes(b"x")
    check = check_folder(folder)
    assert check.state == EDITED and "extra.bin" in check.detail  # format 1 covers what it names, nothing else


@pytest.mark.parametrize("fmt", [1, 3, "2", True, None])
def test_an_unknown_digest_format_fails(fresh, fmt):
    from bench.result.io import content_digest

    data = json.loads((fresh / "result.json").read_text())
    data["integrity"]["format"] = fmt
    data["integrity"]["digest"] = content_digest(data)
    (fresh / "result.json").write_bytes(layout_bytes(data))
    expected = UNSIGNED if fmt is None else EDITED if type(fmt) is int else "unreadable"  # "2", True: not numbers
    assert _state(fresh) == expected


def test_a_format2_result_cannot_be_downgraded_under_its_signature(signed, keys):
    from bench.result.io import content_digest

    data = json.loads((signed / "result.json").read_text())
    for key in ("format", "files"):
        data["integrity"].pop(key)
    data["integrity"]["digest"] = content_digest(data)  # a consistent format 1 digest, but not the signed one
    (signed / "result.json").write_bytes(layout_bytes(data))
    assert check_folder(signed).state == BAD_SIGNATURE


def test_a_killed_run_still_verifies_with_its_stream_noted(fresh):
    """A run killed mid-way leaves a provisional result (status running) and the meter's stream beside it."""
    from tests.hostile.corpus import seal

    data = json.loads((fresh / "result.json").read_text())
    data["status"] = "running"
    data["trace"]["sha256"] = None
    (fresh / "trace.parquet").rename(fresh / "trace.arrows")
    seal(fresh, data)
    check = check_folder(fresh)
    assert check.state == UNSIGNED and any("trace.arrows" in n for n in check.notes)
    (fresh / "stray.txt").write_text("x")
    assert check_folder(fresh).state == EDITED
