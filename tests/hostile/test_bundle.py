"""Hostile submission bundles: corrupt archives, manifests of every wrong shape, 100,000 members, a 2 GiB member
and a 2 GiB tar header (both sparse), files the digest does not cover, names that end in a newline."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import tarfile
from pathlib import Path

import pytest

from tests.factories import write_result_folder
from tests.hostile.corpus import (
    fifo,
    manifest,
    many_members,
    raw_manifest,
    sha,
    sparse_member_tar,
    tar_bytes,
)
from tests.hostile.support import handled, peak_rss, snapshot


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A sealed result folder and a valid bundle of it."""
    from tests.support.harness import invoke

    root = tmp_path_factory.mktemp("bundles")
    folder = write_result_folder(root / "good", [0.5, 0.51, 0.49], duration_s=2.0, idle_s=2.0, warmup_s=1.0)
    assert invoke("export", str(folder), "-o", str(root / "good.tar.gz")).code == 0
    return folder, root / "good.tar.gz"


def _members(bundle: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(bundle) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]


def _import(bundle: Path, target: Path, codes=(1,)):
    before = snapshot(bundle.parent)
    res = handled("import", str(bundle), "-o", str(target), codes=codes)
    new = set(snapshot(bundle.parent)) - set(before)
    assert all(p == target.name or p.startswith(target.name + os.sep) for p in new), new  # only under the target
    return res


@pytest.mark.parametrize("kind", ["xz", "gz", "bz2"])
@pytest.mark.parametrize("damage", ["flipped", "cut"])
def test_a_corrupt_archive_is_one_line(good, tmp_path, kind, damage):
    raw = tar_bytes(_members(good[1]), mode="w")
    packed = bytearray({"xz": lzma.compress, "bz2": bz2.compress, "gz": gzip.compress}[kind](raw))
    if damage == "flipped":
        for i in range(len(packed) // 2, len(packed) // 2 + 40):
            packed[i] ^= 0x5A
    else:
        packed = packed[: len(packed) * 2 // 3]
    bundle = tmp_path / f"b.tar.{kind}"
    bundle.write_bytes(bytes(packed))
    res = _import(bundle, tmp_path / "out")
    lines = res.err.strip().splitlines()  # the archive refused, or (damage that still decompresses) each result
    assert 1 <= len(lines) <= 2 and all(line.startswith("bench: ") for line in lines), res.err
    assert not any((tmp_path / "out").glob("*/result.json"))


@pytest.mark.parametrize("token", ['"1"', "null", "[1]", "1e309", "true", "NaN", "1.5", "{}", "-1", "99",
                                   "1" + "0" * 5000])
def test_manifest_versions_of_every_wrong_type(tmp_path, token):
    bundle = tmp_path / "v.tar.gz"
    bundle.write_bytes(tar_bytes([("manifest.json", raw_manifest(token))]))
    res = _import(bundle, tmp_path / "out")
    assert len(res.err.strip().splitlines()) == 1 and "manifest.json" in res.err
    if token == "99":
        assert "newer" in res.err


@pytest.mark.parametrize("manifest_bytes,sig", [
    (b"[]", None), (b"{" * 10_000, None), (b'{"format": "bench-bundle", "format_version": 1, "results": 5}', None),
    (manifest(), b"[]"), (manifest(), b'{"public_key": 5, "signature": []}'), (manifest(), b"\xff" * 100),
])
def test_manifests_and_signatures_of_every_wrong_shape(tmp_path, manifest_bytes, sig):
    members = [("manifest.json", manifest_bytes)] + ([("manifest.sig", sig)] if sig is not None else [])
    bundle = tmp_path / "m.tar.gz"
    bundle.write_bytes(tar_bytes(members))
    res = _import(bundle, tmp_path / "out")
    assert len(res.err.strip().splitlines()) == 1


def test_entries_of_every_wrong_shape_are_refused_one_by_one(good, tmp_path):
    members = dict(_members(good[1]))
    entry = json.loads(members["manifest.json"])["results"][0]
    bad = [{**entry, "name": "b1", "files": ["result.json"]}, {**entry, "name": "b2", "digest": ["x"]},
           {**entry, "name": {"a": 1}}, {**entry, "name": "good\n"}, {**entry, "name": "../up"}, "garbage",
           {**entry, "name": "b3", "files": {"a\nb": "0" * 64}}]
    m = json.loads(members["manifest.json"])
    m["results"] = bad + [entry]
    members["manifest.json"] = json.dumps(m).encode()
    bundle = tmp_path / "e.tar.gz"
    bundle.write_bytes(tar_bytes(list(members.items())))
    res = _import(bundle, tmp_path / "out")
    assert res.err.count("bench: refused") == len(bad)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good"]  # the good entry still imports
    assert not any("\n" in p.name for p in (tmp_path / "out").iterdir())


def test_only_files_the_digest_covers_are_unpacked(good, tmp_path):
    members = dict(_members(good[1]))
    m = json.loads(members["manifest.json"])
    note = b"#!/bin/sh\nrm -rf ~\n"
    m["results"][0]["files"]["run.sh"] = sha(note)
    members["manifest.json"] = json.dumps(m).encode()
    members["results/good/run.sh"] = note
    bundle = tmp_path / "n.tar.gz"
    bundle.write_bytes(tar_bytes(list(members.items())))
    res = _import(bundle, tmp_path / "out")
    assert "not covered by the result's digest" in res.err and "run.sh" in res.err
    assert not list((tmp_path / "out").rglob("run.sh"))


def test_a_hundred_thousand_members_are_refused_in_one_line(tmp_path):
    bundle = many_members(tmp_path / "many.tar.gz", 100_000)
    res = _import(bundle, tmp_path / "out", codes=(1,))
    assert len(res.output.strip().splitlines()) == 1 and "more than 10,000 members" in res.err


@pytest.mark.parametrize("make", [lambda p: fifo(p), lambda p: p.symlink_to("/dev/zero"), lambda p: p.mkdir()],
                         ids=["fifo", "dev-zero", "folder"])
def test_a_bundle_that_is_not_a_regular_file(tmp_path, make):
    bundle = tmp_path / "b.tar.gz"
    make(bundle)
    res = handled("import", str(bundle), "-o", str(tmp_path / "out"), codes=(1, 2))
    assert len(res.err.strip().splitlines()) == 1


def test_a_two_gigabyte_member_or_header_is_refused_in_bounded_memory(tmp_path):
    big = sparse_member_tar(tmp_path / "big.tar", (2 << 30) + 512)
    longname = sparse_member_tar(tmp_path / "long.tar", 2 << 30, name="././@LongLink", kind=tarfile.GNUTYPE_LONGNAME)
    assert os.stat(big).st_blocks * 512 < 1 << 20  # sparse: nothing like 2 GiB on disk
    rows = peak_rss([["import", str(big), "-o", str(tmp_path / "o1")],
                     ["import", str(longname), "-o", str(tmp_path / "o2")]], timeout=180)
    for row in rows:
        assert row["code"] == 1 and row["growth_mib"] < 100 and row["seconds"] < 20, row
        assert "refused" in row["err"] and len(row["err"].strip().splitlines()) == 1, row


def test_a_bundle_round_trips(good, tmp_path):
    res = _import(good[1], tmp_path / "out", codes=(0,))
    assert "imported" in res.out
    assert (tmp_path / "out" / "good" / "result.json").read_bytes() == (good[0] / "result.json").read_bytes()
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"good"}  # no scratch folder left behind
