"""Hostile device names and profile files: names crafted against the old regular expressions, names and
patterns drawn at random against a reference matcher, profile files that are not files or not profiles."""

from __future__ import annotations

import itertools
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.analysis.scoring.profiles import SHIPPED_DIR, load_profile_file, load_profiles, match_profile
from bench.errors import ConfigError
from tests.hostile.corpus import MARKUP, fifo
from tests.hostile.support import deadline, handled
from tests.support.fuzz import FAST

REDOS = {
    "a100-cubic": "NVIDIA " + "A100 SXM " * 2000,  # minutes for the regular expression this profile had
    "h100-lookahead": "NVIDIA " + "H100 " * 20_000,
    "h200-lookahead": "H200 " * 20_000 + "NV",
    "ascend-spaces": "Ascend" + " " * 50_000 + "910",
    "gaudi": "GAUDI" + " " * 50_000 + "2x",
    "separators": "-" * 100_000,
    "alternating": "a1" * 50_000,
}


@pytest.mark.parametrize("name", sorted(REDOS))
def test_crafted_device_names_match_in_linear_time(name):
    profiles = load_profiles()
    with deadline(5):
        for _ in range(3):
            match_profile(REDOS[name], profiles)


def _reference(pattern: str, name: str) -> bool:
    """Whether the pattern's parts occur in order in the name's tokens, by trying every placement."""
    from bench.analysis.scoring import namematch

    parts = [tuple(t for t, _, _ in namematch.tokens(p)) for p in pattern.split("*")]
    words = [t for t, _, _ in namematch.tokens(name)]
    spots = []
    for part in parts:
        spots.append([i for i in range(len(words) - len(part) + 1) if tuple(words[i:i + len(part)]) == part])
    for choice in itertools.product(*spots):
        if all(b >= a + len(p) for a, b, p in zip(choice, choice[1:], parts)):
            return True
    return False


words = st.sampled_from(["a", "b", "1", "2", "ab", "12", "h", "100", "x"])
seps = st.sampled_from(["", " ", "-", "_", "/", ".", " ("])


@FAST
@given(name=st.lists(st.tuples(words, seps), max_size=8).map(lambda xs: "".join(w + s for w, s in xs)),
       pattern=st.lists(st.lists(words, min_size=1, max_size=3).map(" ".join), min_size=1, max_size=3)
       .map(" * ".join))
def test_the_matcher_agrees_with_trying_every_placement(name, pattern):
    from bench.analysis.scoring import namematch

    found = namematch.search(namematch.compile_pattern(pattern), namematch.tokens(name))
    assert (found is not None) == _reference(pattern, name)
    if found:
        start, end, weight = found
        assert 0 <= start < end <= len(name) and weight >= 1


@pytest.mark.parametrize("pattern", ["\\bH100\\b", "(a+)+$", "H100(?!.*NVL)", "[A-Z]100", "x|y", "", "   ", "*",
                                     "a" * 101, "H100 \x1b", "a " * 20])
def test_a_pattern_that_is_not_a_name_pattern_is_refused(tmp_path, pattern):
    src = (SHIPPED_DIR / "nvidia-l4.toml").read_text().replace('match = ["L4"]', f"match = [{pattern!r}]")
    path = tmp_path / "x.toml"
    path.write_text(src)
    with pytest.raises(ConfigError) as info:
        load_profile_file(path)
    assert str(info.value).startswith(f"{path}: match") and "\n" not in str(info.value)


NUMBERS = {"true": "true", "huge-int": "1" + "0" * 400, "inf": "inf", "nan": "nan", "text": '"700"',
           "negative": "-700.0", "array": "[700]"}


@pytest.mark.parametrize("value", sorted(NUMBERS))
def test_a_profile_number_that_is_not_a_finite_number_in_range(tmp_path, value):
    src = (SHIPPED_DIR / "nvidia-l4.toml").read_text().replace("rated_power_w = 72.0",
                                                               f"rated_power_w = {NUMBERS[value]}")
    path = tmp_path / "x.toml"
    path.write_text(src)
    with pytest.raises(ConfigError, match=r"x\.toml: rated_power_w: "):
        load_profile_file(path)


@pytest.mark.parametrize("make", [fifo, lambda p: p.symlink_to("/dev/zero"), lambda p: p.mkdir()],
                         ids=["fifo", "dev-zero", "folder"])
def test_a_profile_file_or_folder_that_is_not_regular(tmp_path, make):
    folder = tmp_path / "profiles"
    folder.mkdir()
    make(folder / "odd.toml")
    for args in (["list", "profiles", "--profiles-dir", str(folder)],
                 ["score", "--profiles-dir", str(folder), str(tmp_path)]):
        res = handled(*args, codes=(2,))
        assert "odd.toml" in res.err and len(res.err.strip().splitlines()) == 1
    res = handled("score", "--profiles-dir", str(fifo(tmp_path / "dir-fifo")), str(tmp_path), codes=(2,))
    assert len(res.err.strip().splitlines()) == 1


def test_strings_of_a_profile_are_listed_as_data(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    src = (SHIPPED_DIR / "nvidia-l4.toml").read_text()
    src = src.replace('vendor = "NVIDIA"', f"vendor = {MARKUP!r}").replace('name = "L4"', 'name = "\\u001b[2J L4"')
    (folder / "evil.toml").write_text(src)
    shutil.copy(SHIPPED_DIR / "cpu-generic.toml", folder)
    res = handled("list", "profiles", "--profiles-dir", str(folder), codes=(0,))
    assert "[bold red]loud" in res.out and "\\x1b[2J" in res.out
