"""Text from files the harness did not write, made safe to show: every string from a result, a trace, a bundle or
a data file goes through :func:`clean` before it reaches a terminal, a log line, a report or a figure.

What it neutralises, each replaced by a visible escape (``\\x1b``, ``\\u202e``), so the text is shown as data and
never acts on the terminal or the page:

- C0 control characters (ESC starts every ANSI/OSC sequence; CR, BS and BEL rewrite or ring a line), DEL, and C1
  control characters (U+0080-U+009F: U+009B is a one-character CSI on some terminals);
- bidirectional overrides and isolates and line/paragraph separators (text that reads differently from what it is);
- surrogates: a lone UTF-16 surrogate from JSON, or the ``surrogateescape`` stand-ins of a file name that is not
  UTF-8 (shown as the original byte, ``\\xff``), which no UTF-8 stream can encode.

Markup (rich's ``[bold]``, matplotlib's ``$...$``, HTML) is the business of the code that renders: it must set the
text as plain text (rich ``Text``, ``parse_math=False``, :func:`html.escape`).
"""

from __future__ import annotations

from typing import Any

_BIDI = (0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}


def _table(keep_newlines: bool) -> dict[int, str]:
    table: dict[int, str] = {}
    for code in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)):
        table[code] = _NAMED.get(code, f"\\x{code:02x}")
    for code in _BIDI:
        table[code] = f"\\u{code:04x}"
    for code in range(0xD800, 0xE000):
        # surrogateescape maps an undecodable byte 0xNN to U+DCNN: show the byte
        table[code] = f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"
    if keep_newlines:
        del table[0x0A], table[0x09]
    return table


ONE_LINE = _table(keep_newlines=False)
MULTI_LINE = _table(keep_newlines=True)


def clean(value: Any, newlines: bool = False, limit: int | None = None) -> str:
    """``value`` as text that is safe to print. ``newlines`` keeps line feeds and tabs (a block of text); ``limit``
    cuts the text to that many characters, the last one an ellipsis."""
    text = value if isinstance(value, str) else str(value)
    if not text.isprintable():
        text = text.translate(MULTI_LINE if newlines else ONE_LINE)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "\u2026"
    return text


def is_clean(text: str, newlines: bool = False) -> bool:
    """Whether ``text`` has nothing :func:`clean` would change (no control, bidi or surrogate character)."""
    return clean(text, newlines=newlines) == text


__all__ = ["clean", "is_clean"]
