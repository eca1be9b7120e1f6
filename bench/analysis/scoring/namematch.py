"""Device-name patterns of hardware profiles, matched in time linear in the name's length.

A device name comes from a driver, a plugin, or a result file someone else made, so matching it must never
backtrack (a regular expression such as ``\\bH100\\b(?!.*NVL)`` takes seconds to minutes on a crafted name of a
few kilobytes). A pattern is a few words instead:

- a name and a pattern are read as **tokens**: each run of ASCII letters and each run of digits, case-folded;
  everything else separates tokens. ``"NVIDIA A100-SXM4-80GB"`` is ``nvidia a 100 sxm 4 80 gb``;
- a pattern matches where its tokens appear one after another in the name: ``"Ascend 910B"`` (``ascend 910 b``)
  matches ``Ascend910B3`` and ``Ascend 910 B``; ``"L4"`` does not match ``L40S`` (``40`` is not ``4``);
  ``"B200"`` does not match ``GB200`` (``gb`` is not ``b``);
- ``*`` allows anything in between: ``"A100 * SXM * 80GB"`` matches ``A100-SXM4-80GB``.

Matching takes the earliest occurrence of each part in turn (which finds a match whenever there is one); each
part has at most :data:`MAX_TOKENS` tokens, so the work is linear in the name.
"""

from __future__ import annotations

import string

MAX_PATTERN_CHARS = 100
MAX_TOKENS = 16
MAX_NAME_CHARS = 4096  # past this a name is not a device name; only its start is read
ALLOWED = frozenset(string.ascii_letters + string.digits + " -_./*#")
REGEX_HINT = set("\\[]{}()?+^$|")

Pattern = tuple[tuple[str, ...], ...]  # parts separated by '*', each a run of tokens


def tokens(text: str) -> list[tuple[str, int, int]]:
    """(token, start, end) of each run of ASCII letters and of digits in ``text``, letters case-folded."""
    out: list[tuple[str, int, int]] = []
    text = text[:MAX_NAME_CHARS]
    start, kind = 0, None
    for i, ch in enumerate(text):
        this = "a" if ch.isascii() and ch.isalpha() else "9" if ch.isascii() and ch.isdigit() else None
        if this != kind:
            if kind is not None:
                out.append((text[start:i].lower(), start, i))
            start, kind = i, this
    if kind is not None:
        out.append((text[start:].lower(), start, len(text)))
    return out


def compile_pattern(pattern: str) -> Pattern:
    """The parts of a pattern; ValueError (one line) for anything that is not a pattern."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValueError("an empty pattern would match every device")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"a pattern of {len(pattern)} characters (at most {MAX_PATTERN_CHARS})")
    if set(pattern) & REGEX_HINT:
        raise ValueError(f"{pattern[:40]!r} is not a name pattern: patterns are words matched whole "
                         "(e.g. 'H100', 'A100 * SXM * 80GB'), not regular expressions")
    bad = sorted(set(pattern) - ALLOWED)
    if bad:
        raise ValueError(f"{pattern[:40]!r}: characters {''.join(bad)[:10]!r} are not allowed in a name pattern")
    parts = tuple(tuple(t for t, _, _ in tokens(part)) for part in pattern.split("*"))
    if any(not part for part in parts):
        raise ValueError(f"{pattern!r}: every part around '*' needs a letter or a digit")
    if sum(len(p) for p in parts) > MAX_TOKENS:
        raise ValueError(f"{pattern!r}: more than {MAX_TOKENS} words")
    return parts


def search(parts: Pattern, name: list[tuple[str, int, int]]) -> tuple[int, int, int] | None:
    """(start, end, matched token characters) of the pattern in a tokenised name, or None."""
    words = [t for t, _, _ in name]
    i, first, last, weight = 0, None, None, 0
    for part in parts:
        n = len(part)
        while i + n <= len(words) and tuple(words[i:i + n]) != part:
            i += 1
        if i + n > len(words):
            return None
        first = i if first is None else first
        last = i + n - 1
        weight += sum(len(t) for t in part)
        i += n
    assert first is not None and last is not None
    return name[first][1], name[last][2], weight


__all__ = ["MAX_PATTERN_CHARS", "Pattern", "compile_pattern", "search", "tokens"]
