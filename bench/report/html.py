"""HTML building blocks for the report: escaping, a page with inline CSS and JS, sortable tables, badges.

Everything from a result goes through :func:`esc`. The page carries a Content-Security-Policy that
allows no network access at all and only the one inline script whose hash it names, so even a
string that slipped through escaping could not run or load anything.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Sequence
from typing import Any

from bench.safetext import clean

GRADE_COLOURS = {"A": "#00843d", "B": "#4ba946", "C": "#b5cf2c", "D": "#f4e21b", "E": "#f5a800", "F": "#e8601c",
                 "G": "#d7191c"}
INTEGRITY_CLASS = {"signed": "ok", "unsigned": "plain", "edited": "bad", "bad-signature": "bad",
                   "untrusted-key": "bad"}

CSS = """
:root{--fg:#1b2430;--muted:#5b6775;--line:#d9dee5;--bg:#fff;--head:#f3f5f8;--accent:#1f5fa8}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);
margin:0 auto;max-width:1200px;padding:18px 22px 60px}
h1{font-size:22px;margin:4px 0 2px}h2{font-size:18px;margin:28px 0 6px;border-bottom:2px solid var(--line);
padding-bottom:3px}h3{font-size:15px;margin:18px 0 6px}
.muted{color:var(--muted)}.small{font-size:12px}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:12.5px}
th,td{border-bottom:1px solid var(--line);padding:4px 5px;text-align:left;vertical-align:top}
td{overflow-wrap:anywhere;max-width:260px}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.scroll{overflow-x:auto;max-width:100%}
td .sub{display:block;color:var(--muted);font-size:11px}
th{background:var(--head);font-weight:600;white-space:nowrap}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th::after{content:" \\2195";color:#aab}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2";color:var(--accent)}
table.sortable th[aria-sort=descending]::after{content:" \\25BC";color:var(--accent)}
tbody tr:hover{background:#f7f9fc}
.badge{display:inline-block;min-width:24px;padding:1px 6px;border-radius:4px;font-weight:700;text-align:center;
color:#fff;text-shadow:0 0 2px rgba(0,0,0,.45);white-space:nowrap}
td .sub.why{min-width:15em;overflow-wrap:normal}
td a{overflow-wrap:break-word}
.badge.none{background:#ccd;color:#445;text-shadow:none;font-weight:400}
.state{padding:1px 6px;border-radius:4px;font-size:12px;white-space:nowrap}
.state.ok{background:#dff3e4;color:#17622e}.state.plain{background:#eef0f3;color:#444}
.state.bad{background:#fde2e1;color:#9b1c1c;font-weight:700}
.box{border:1px solid var(--line);border-radius:6px;padding:8px 12px;background:#fafbfc;margin:8px 0}
.box dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}
.box dt{color:var(--muted)}.box dd{margin:0}
.warn{border-color:#f0c36d;background:#fff8e6}
img.plot{max-width:100%;height:auto;display:block;margin:4px 0}
.figs{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
.figs>div{flex:1 1 420px;min-width:0}
details.run{border:1px solid var(--line);border-radius:6px;margin:8px 0;padding:4px 10px}
details.run summary{cursor:pointer;font-weight:600}
.swatch{display:inline-block;width:14px;height:10px;border:1px solid #999;margin:0 3px 0 1px;vertical-align:-1px}
code{font-size:12px;background:#f1f3f6;padding:0 3px;border-radius:3px}
"""

SORT_JS = """
(function(){
  function key(cell, numeric){
    var v = cell.getAttribute('data-v');
    if (v === null) v = cell.textContent.trim();
    if (!numeric) return v.toLowerCase();
    var x = parseFloat(v);
    return isNaN(x) ? null : x;
  }
  function sortBy(table, th){
    var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute('data-type') === 'num';
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) heads[i].removeAttribute('aria-sort');
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function(r, i){
      return {row: r, k: key(r.cells[idx], numeric), i: i};
    });
    rows.sort(function(a, b){
      if (a.k === b.k) return a.i - b.i;
      if (a.k === null || a.k === '') return 1;
      if (b.k === null || b.k === '') return -1;
      var c = a.k < b.k ? -1 : 1;
      return asc ? c : -c;
    });
    rows.forEach(function(r){ body.appendChild(r.row); });
  }
  var tables = document.querySelectorAll('table.sortable');
  Array.prototype.forEach.call(tables, function(table){
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function(th){
      th.tabIndex = 0;
      th.addEventListener('click', function(){ sortBy(table, th); });
      th.addEventListener('keydown', function(ev){
        if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); sortBy(table, th); }
      });
    });
  });
})();
"""


def esc(value: Any) -> str:
    """HTML-escape any value (quotes too, so it is safe in attributes); control characters and surrogates (a
    folder name that is not UTF-8) shown as escapes (:func:`bench.safetext.clean`), so the page is valid UTF-8."""
    return html.escape("" if value is None else clean(value, newlines=True), quote=True)


def badge(grade: str | None, reason: str | None = None) -> str:
    """A grade letter in its colour; without one, "ungraded" and why (in the title and below)."""
    if not grade:
        why = reason or "not graded"
        return (f'<span class="badge none" title="{esc(why)}">ungraded</span>'
                f'<span class="sub why">{esc(why)}</span>')
    colour = GRADE_COLOURS.get(str(grade)[:1].upper(), "#667")
    return f'<span class="badge" style="background:{colour}">{esc(grade)}</span>'


def integrity_badge(state: str | None, detail: str = "") -> str:
    cls = INTEGRITY_CLASS.get(str(state), "bad")
    return f'<span class="state {cls}" title="{esc(detail)}">{esc(state or "?")}</span>'


class Cell:
    """A table cell: its HTML (already safe), a sort key, and whether it is numeric."""

    __slots__ = ("html", "key", "num")

    def __init__(self, html_text: str, key: Any = None, num: bool = False) -> None:
        self.html, self.key, self.num = html_text, key, num


def text(value: Any) -> Cell:
    return Cell(esc(value), None, False)


def number(value: float | None, shown: str) -> Cell:
    return Cell(esc(shown), "" if value is None else repr(float(value)), True)


def table(headers: Sequence[tuple[str, bool]], rows: Iterable[Sequence[Cell]], sortable: bool = True,
          css_id: str | None = None) -> str:
    """A table; ``headers`` are (label, numeric). Cells' HTML is trusted, labels are escaped."""
    head = "".join(f'<th{" class=num data-type=num" if num else ""}>{esc(label)}</th>' for label, num in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            attrs = ' class="num"' if cell.num else ""
            if cell.key is not None:
                attrs += f' data-v="{esc(cell.key)}"'
            cells.append(f"<td{attrs}>{cell.html}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{esc(css_id)}"' if css_id else ""
    cls = ' class="sortable"' if sortable else ""
    return (f'<div class="scroll"><table{cls}{ident}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table></div>")


def definition_box(items: Sequence[tuple[str, Any]], title: str | None = None, warn: bool = False) -> str:
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    head = f"<h3>{esc(title)}</h3>" if title else ""
    return f'<div class="box{" warn" if warn else ""}">{head}<dl>{rows}</dl></div>'


def image(uri: str | None, alt: str, lazy: bool = True) -> str:
    if not uri:
        return f'<p class="muted small">{esc(alt)}: no data to plot</p>'
    if not uri.startswith("data:image/"):
        raise ValueError("only data: images are embedded")
    loading = ' loading="lazy"' if lazy else ""
    return f'<img class="plot" alt="{esc(alt)}" src="{uri}"{loading}>'


def page(title: str, body: str) -> str:
    """A complete, self-contained HTML page: inline CSS, the table sorter, and a CSP with no network access."""
    digest = base64.b64encode(hashlib.sha256(SORT_JS.encode()).digest()).decode()
    csp = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; "
           "base-uri 'none'; form-action 'none'")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n"
            f"<script>{SORT_JS}</script>\n</body></html>\n")
