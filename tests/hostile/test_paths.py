"""Output paths that cannot or must not be written: missing folders, read-only folders and results, symbolic links
(dangling or not), folders where a file goes. Each is one line and writes nothing anywhere; keys are created
exclusively, never through a link, mode 0600."""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from tests.factories import write_result_folder
from tests.hostile.support import changed, handled, open_folder, snapshot, unprivileged


@pytest.fixture
def place():
    """A scratch folder an ordinary user can use, holding a sealed result and a bundle of it."""
    from tests.support.harness import invoke

    with open_folder() as root:
        folder = write_result_folder(root / "res", [0.5, 0.5, 0.5], duration_s=2.0, idle_s=2.0, warmup_s=1.0)
        assert invoke("export", str(folder), "-o", str(root / "b.tar.gz")).code == 0
        os.chmod(root / "b.tar.gz", 0o644)
        yield root


def _outputs(root):
    res = str(root / "res")
    return {"report": lambda out: ["report", "--no-traces", "-o", str(out), res],
            "compare": lambda out: ["compare", "--format", "csv", "-o", str(out), res],
            "compare-rich": lambda out: ["compare", "-o", str(out), res],
            "export": lambda out: ["export", "-o", str(out), res]}


def _targets(root):
    ro = root / "ro"
    ro.mkdir()
    (root / "victim").write_text("keep me")
    os.symlink(root / "nowhere" / "x", root / "dangling")
    os.symlink(root / "victim", root / "link")
    (root / "dir").mkdir()
    os.chmod(ro, 0o555)
    return {"missing-folder": root / "missing" / "out", "read-only-folder": ro / "out", "dangling-link":
            root / "dangling", "link-to-file": root / "link", "a-folder": root / "dir"}


@pytest.mark.parametrize("command", ["report", "compare", "compare-rich", "export"])
def test_an_output_that_cannot_be_written_is_one_line_and_nothing_is_written(place, command):
    targets = _targets(place)
    for name, target in targets.items():
        before = snapshot(place)
        with unprivileged():
            res = handled(*_outputs(place)[command](target), codes=(2,))
        assert len(res.err.strip().splitlines()) == 1 and "--output" in res.err, (name, res.err)
        assert changed(before, snapshot(place)) == set(), name
    assert (place / "victim").read_text() == "keep me" and not (place / "nowhere").exists()


def test_keygen_refuses_links_missing_and_read_only_folders(place):
    targets = _targets(place)
    for name in ("missing-folder", "read-only-folder", "dangling-link", "link-to-file", "a-folder"):
        before = snapshot(place)
        for force in ([], ["--force"]):
            with unprivileged():
                res = handled("keygen", "-o", str(targets[name]), *force, codes=(2,))
            assert len(res.err.strip().splitlines()) == 1, (name, res.err)
        assert changed(before, snapshot(place)) == set(), name
    assert not (place / "nowhere").exists() and (place / "victim").read_text() == "keep me"


def test_keygen_writes_the_private_key_0600_and_never_overwrites_without_force(place):
    key = place / "key"
    handled("keygen", "-o", str(key), codes=(0,))
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE((place / "key.pub").stat().st_mode) == 0o644
    first = key.read_bytes()
    handled("keygen", "-o", str(key), codes=(2,))
    assert key.read_bytes() == first
    handled("keygen", "-o", str(key), "--force", codes=(0,))
    assert key.read_bytes() != first and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert sorted(p.name for p in place.iterdir() if p.name.startswith(("key", ".key"))) == ["key", "key.pub"]


def test_signing_a_read_only_result_is_one_line_and_leaves_it_as_it_was(place):
    handled("keygen", "-o", str(place / "k"), codes=(0,))
    os.chmod(place / "k", 0o644)  # readable by the unprivileged signer below
    result = place / "res"
    os.chmod(result, 0o555)
    before = (result / "result.json").read_bytes()
    with unprivileged():
        res = handled("sign", "-k", str(place / "k"), str(result), codes=(1,))
    assert len(res.err.strip().splitlines()) == 1 and "read-only" in res.err
    assert (result / "result.json").read_bytes() == before
    assert handled("verify", str(result), codes=(0,)).out.startswith("intact, unsigned")


def test_import_into_a_read_only_or_linked_target(place):
    ro = place / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    os.symlink(place / "nowhere", place / "dangling")
    bundle = str(place / "b.tar.gz")
    for target in (ro, place / "dangling", place / "b.tar.gz"):
        before = snapshot(place)
        with unprivileged():
            res = handled("import", bundle, "-o", str(target), codes=(2,))
        assert len(res.err.strip().splitlines()) == 1 and "--output" in res.err, res.err
        assert changed(before, snapshot(place)) == set()
    inside = place / "in"
    inside.mkdir()
    os.symlink(place / "elsewhere", inside / "res")  # where the result would go: a dangling link
    res = handled("import", bundle, "-o", str(inside), codes=(1,))
    assert "exists" in res.err and os.path.islink(inside / "res") and not (place / "elsewhere").exists()
    assert sorted(os.listdir(inside)) == ["res"]  # nothing left behind


def test_a_file_added_to_a_signed_result_fails_verify(place):
    handled("keygen", "-o", str(place / "k"), codes=(0,))
    result = shutil.copytree(place / "res", place / "signed")
    handled("sign", "-k", str(place / "k"), str(result), codes=(0,))
    assert handled("verify", str(result), codes=(0,)).out.startswith("intact, signed")
    (result / "notes.txt").write_text("added after signing")
    res = handled("verify", str(result), codes=(1,))
    assert "EDITED" in res.err and "notes.txt" in res.err
    (result / "notes.txt").unlink()
    (result / "trace.parquet").unlink()
    res = handled("verify", str(result), codes=(1,))
    assert "trace.parquet is missing" in res.err
