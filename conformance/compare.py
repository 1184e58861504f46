"""Several runs side by side (`python -m conformance compare`): one row per case and profile,
one column per run (and per format, for a run in two), as markdown and as a self-contained
HTML page; every change of verdict between neighbouring columns is named, and a case that
passed in one column and fails in the next is a regression.

Columns keep the order given: list releases oldest first to read changes as history.
"""

from __future__ import annotations

import html
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from .report import SYMBOLS

FAILING = ("fail", "error", "xfail", "xpass")  # not a pass (an xfail is a known failure)
COLOURS = {
    "pass": "#2e7d32",
    "xfail": "#ef6c00",
    "fail": "#c62828",
    "error": "#6a1b9a",
    "xpass": "#ad1457",
    "skip": "#9e9e9e",
}


@dataclass
class Column:
    name: str
    cases: dict[tuple[str, str], dict] = field(default_factory=dict)  # (id, profile) -> case

    def status(self, key: tuple[str, str]) -> str | None:
        case = self.cases.get(key)
        return case["status"] if case else None


@dataclass(frozen=True)
class Change:
    key: tuple[str, str]
    before: str  # column names
    after: str
    old: str
    new: str
    message: str | None

    @property
    def regression(self) -> bool:
        return self.old == "pass" and self.new in FAILING


def columns(paths: list[Path]) -> list[Column]:
    """One column per results.json and format (a run in G1 and G2 gives two)."""
    runs = [json.loads(path.read_text()) for path in paths]
    names = [
        run.get("implementation") or path.parent.name for run, path in zip(runs, paths, strict=True)
    ]
    if len(set(names)) < len(names):  # one implementation on several registries
        names = [f"{n} on {run.get('registry', '?')}" for n, run in zip(names, runs, strict=True)]
    found = []
    for name, run in zip(names, runs, strict=True):
        formats = sorted({case.get("format", "g1") for case in run["cases"]}) or ["g1"]
        for format in formats:
            column = Column(name if len(formats) == 1 else f"{name} ({format})")
            for case in run["cases"]:
                if case.get("format", "g1") == format:
                    column.cases[(case["id"], case["profile"])] = case
            found.append(column)
    return found


def changes(found: list[Column]) -> list[Change]:
    """Every case whose verdict differs between neighbouring columns (both ran it)."""
    result = []
    for before, after in itertools.pairwise(found):
        for key in sorted(before.cases.keys() & after.cases.keys()):
            old, new = before.status(key), after.status(key)
            if old != new and "skip" not in (old, new):
                message = after.cases[key].get("message")
                result.append(Change(key, before.name, after.name, old, new, message))
    return result


def _rows(found: list[Column]) -> list[tuple[str, str]]:
    return sorted({key for column in found for key in column.cases})


def _titles(found: list[Column]) -> dict[tuple[str, str], dict]:
    return {key: case for column in found for key, case in column.cases.items()}


def markdown(paths: list[Path]) -> str:
    found = columns(paths)
    info = _titles(found)
    lines = [
        "| case | " + " | ".join(c.name for c in found) + " | title |",
        "|---" * (len(found) + 2) + "|",
    ]
    for key in _rows(found):
        cells = [SYMBOLS.get(c.status(key) or "", "") for c in found]
        lines.append(f"| {key[0]}[{key[1]}] | " + " | ".join(cells) + f" | {info[key]['title']} |")
    totals = [f"{sum(1 for k in c.cases if c.status(k) == 'pass')}/{len(c.cases)}" for c in found]
    lines.append("| **passed** | " + " | ".join(totals) + " | |")
    legend = ", ".join(f"{symbol} {status}" for status, symbol in SYMBOLS.items())
    lines += ["", legend]
    found_changes = changes(found)
    if len(found) > 1:
        lines += ["", "## Changes between neighbouring columns", ""]
        if not found_changes:
            lines.append("None.")
        for change in found_changes:
            mark = " **regression**" if change.regression else ""
            lines.append(
                f"- {change.key[0]}[{change.key[1]}]: {change.before} {change.old} → "
                f"{change.after} {change.new}{mark}"
            )
    return "\n".join(lines) + "\n"


_STYLE = """
body{font:13px system-ui,sans-serif;margin:1em}
table{border-collapse:collapse}
th,td{border:1px solid #ddd;padding:2px 6px}
th.col{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-weight:600}
td.cell{width:1.6em;text-align:center;color:#fff;cursor:pointer}
td.regression{outline:3px solid #000;outline-offset:-3px}
tr.area th{background:#eee;text-align:left}
#detail{position:sticky;top:0;background:#fffbe6;border:1px solid #e0c060;padding:6px;
white-space:pre-wrap;font-family:monospace;min-height:2em;margin-bottom:8px}
.legend span{display:inline-block;padding:1px 6px;margin-right:4px;color:#fff}
"""
_SCRIPT = """
document.querySelectorAll('td.cell').forEach(function(td){
  td.addEventListener('click',function(){
    document.getElementById('detail').textContent=td.getAttribute('title');});});
"""


def page(paths: list[Path]) -> str:
    """The matrix as one HTML file: no network, no external file (the style and the few
    lines of script are in it). Each cell's title holds its status and message (hover);
    a click shows it above the grid. Regressions are outlined."""
    found = columns(paths)
    info = _titles(found)
    regressions = {(c.key, c.after) for c in changes(found) if c.regression}
    head = "".join(f'<th class="col">{html.escape(c.name)}</th>' for c in found)
    body = []
    area = None
    for key in sorted(_rows(found), key=lambda k: (info[k].get("area", ""), k)):
        if info[key].get("area") != area:
            area = info[key].get("area")
            title = html.escape(area or "")
            body.append(f'<tr class="area"><th colspan="{len(found) + 2}">{title}</th></tr>')
        cells = []
        for column in found:
            case = column.cases.get(key)
            if case is None:
                cells.append('<td class="cell" title="not run"></td>')
                continue
            status = case["status"]
            tip = f"{key[0]}[{key[1]}] in {column.name}: {status}"
            if case.get("message"):
                tip += "\n" + case["message"]
            classes = "cell regression" if (key, column.name) in regressions else "cell"
            cells.append(
                f'<td class="{classes}" data-status="{status}" style="background:'
                f'{COLOURS.get(status, "#fff")}" title="{html.escape(tip)}">'
                f"{html.escape(SYMBOLS.get(status, '?'))}</td>"
            )
        body.append(
            f"<tr><th>{html.escape(key[0])}[{html.escape(key[1])}]</th>{''.join(cells)}"
            f"<td>{html.escape(info[key]['title'])}</td></tr>"
        )
    legend = "".join(
        f'<span style="background:{COLOURS[s]}">{SYMBOLS[s]} {s}</span>' for s in COLOURS
    )
    totals = " · ".join(
        f"{html.escape(c.name)}: {sum(1 for k in c.cases if c.status(k) == 'pass')}/"
        f"{len(c.cases)} pass"
        for c in found
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Conformance matrix</title>'
        f"<style>{_STYLE}</style></head><body><h1>Conformance matrix</h1>"
        f'<p class="legend">{legend} <b>outlined</b>: regression (passed in the column before)</p>'
        f"<p>{totals}; {len(regressions)} regression(s)</p>"
        '<div id="detail">click a cell for its message</div>'
        f"<table><thead><tr><th>case</th>{head}<th>title</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table><script>{_SCRIPT}</script></body></html>\n"
    )
