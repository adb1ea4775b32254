"""The table of what changed between kernels (kernels.json, harness.core.kernel_table) as
Markdown and as one static HTML page: the kernels with their figures (an ERROR one with its
console's last lines), the rows that differ with each kernel's verdict, reasons, claims,
evidence and pcaps, each kernel's link fidelity (harness.core.link_fidelity), then every run.

Both renderings say the same things in the same order: the page is made once as blocks
(headings, paragraphs, tables, console lines), then written as Markdown or as HTML. The HTML
page fetches nothing: its style is inline, it has no scripts. The pcap paths in the table,
and a kernel's `pages` (its own index.html), are relative to the page's folder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

from harness.report.runs import verdict_label

__all__ = ["render_kernels_html", "render_kernels_markdown"]

TITLE = "What changed between kernels"
#: The figures a column may carry, in the order shown, with their headings.
FIGURES = (("accel", "accel"), ("boot_seconds", "boot s"), ("catalog_seconds", "catalog s"),
           ("link-kernel_seconds", "netem pass s"), ("link-user_seconds", "user link pass s"),
           ("guest_seconds", "guest s"), ("qemu_peak_rss_mb", "QEMU peak RSS MB"),
           ("link", "link"))
#: The two players of a link-fidelity comparison, as the page names them.
PLAYERS = {"kernel": "kernel's netem", "user": "user-space link"}
NOTHING_DIFFERS = ("No row differs: every run the kernels share gave the same verdict and "
                   "the same answer to each claim.")
MARK = "DIFFERS"

_SPACE = re.compile(r"\s+")
_NOT_IN_AN_ID = re.compile(r"[^A-Za-z0-9_-]")
# A `<` Markdown could take for the start of HTML (as harness.report.markdown escapes it).
_TAG_START = re.compile(r"<(?=[A-Za-z][A-Za-z0-9-]*(?:[\s/>]|$)|[/!?])")
_LOUD = {"v-fail", "v-error", "c-does-not-hold"}  # bold in Markdown


@dataclass(frozen=True)
class _Cell:
    """Some text of the page: plain or code, then items one a line, then links."""

    text: str = ""
    kind: str = ""  # its class: v-pass, c-holds...
    items: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (text, href), the href already quoted
    code: bool = False


@dataclass(frozen=True)
class _Row:
    cells: tuple[_Cell, ...]
    differs: bool = False


@dataclass(frozen=True)
class _Block:
    """A heading (h1-h3), a paragraph (p), a table or console lines (pre)."""

    kind: str
    parts: tuple[_Cell, ...] = ()
    head: tuple[_Cell, ...] = ()
    rows: tuple[_Row, ...] = ()
    lines: tuple[str, ...] = ()
    mark: bool = False
    anchor: str = ""


def _cells(parts: Sequence[_Cell | str]) -> tuple[_Cell, ...]:
    return tuple(p if isinstance(p, _Cell) else _Cell(p) for p in parts)


def _h(level: int, *parts: _Cell | str, mark: bool = False, anchor: str = "") -> _Block:
    return _Block(f"h{level}", _cells(parts), mark=mark, anchor=anchor)


def _p(*parts: _Cell | str) -> _Block:
    return _Block("p", _cells(parts))


def _table(head: Sequence[_Cell | str], rows: Sequence[_Row]) -> _Block:
    return _Block("table", head=_cells(head), rows=tuple(rows))


# ---------------------------------------------------------------- cells of the table


def _name(kernel: Mapping[str, Any]) -> str:
    return f"{kernel['label']}{' (host)' if kernel.get('host') else ''}"


def _kernel(kernel: Mapping[str, Any]) -> _Cell:
    """A kernel's name, linking to its own page when it has one."""
    pages = kernel.get("pages")
    return _Cell(links=((_name(kernel), _href(pages)),)) if pages else _Cell(_name(kernel))


def _href(path: str) -> str:
    return quote(path.replace("\\", "/"), safe="/")


def _figure(value: Any) -> _Cell:
    if value is None:
        return _Cell("-")
    return _Cell(f"{value:g}" if isinstance(value, float) else str(value))


def _verdict(verdict: str | None) -> _Cell:
    if not verdict:
        return _Cell("-", "v-none")
    return _Cell(verdict_label(verdict), f"v-{_NOT_IN_AN_ID.sub('-', verdict)}")


def _answer(answer: str | None) -> _Cell:
    if not answer:
        return _Cell("-", "v-none")
    return _Cell(answer, f"c-{_NOT_IN_AN_ID.sub('-', answer)}")


def _pcap(path: str | None) -> _Cell:
    return _Cell(links=(("pcap", _href(path)),)) if path else _Cell("-")


def _anchor(row: Mapping[str, Any]) -> str:
    return "differs-" + _NOT_IN_AN_ID.sub("-", f"{row['scenario']}-{row['family']}-"
                                               f"{row['topology']}")


# ---------------------------------------------------------------- the page's sections


def _blocks(table: Mapping[str, Any]) -> list[_Block]:
    s = table["summary"]
    counts = (f"{s['kernels']} kernels, {s['errors']} without results; {s['rows']} rows, "
              f"{s['differing']} differing.")
    return [_h(1, TITLE), _p(counts), *_kernels(table["kernels"]), *_differs(table),
            *_fidelity(table["kernels"]), *_every_run(table)]


def _kernels(kernels: Sequence[Mapping[str, Any]]) -> list[_Block]:
    """The kernels, one row each; then each ERROR one's reason and console."""
    counted = ("runs", "passed", "failed", "errors")
    head = ["kernel", "status", *counted, *(name for _, name in FIGURES)]
    rows = [_Row((_kernel(k), _Cell("ok", "v-pass") if k["status"] == "ok"
                  else _Cell("ERROR", "v-error"),
                  *(_figure((k.get("summary") or {}).get(n)) for n in counted),
                  *(_figure(k.get(key)) for key, _ in FIGURES))) for k in kernels]
    out = [_h(2, "The kernels"), _table(head, rows)]
    for kernel in (k for k in kernels if k["status"] != "ok"):
        out += [_h(3, _kernel(kernel), ": ERROR"), _p(kernel.get("error") or "no reason given")]
        if kernel.get("console"):
            out += [_p("Its console's last lines:"),
                    _Block("pre", lines=tuple(kernel["console"]))]
    return out


def _differs(table: Mapping[str, Any]) -> list[_Block]:
    """Each row that differs, with a column per kernel; or a sentence saying none does."""
    rows = [row for row in table["rows"] if row["differs"]]
    if not rows:
        return [_h(2, "What differs"), _p(NOTHING_DIFFERS)]
    kernels = {k["label"]: k for k in table["kernels"]}
    out = [_h(2, "What differs")]
    for row in rows:
        out += _differing(row, kernels)
    return out


def _differing(row: Mapping[str, Any], kernels: Mapping[str, Mapping[str, Any]]) -> list[_Block]:
    labels = list(row["verdicts"])

    def line(name: str, cells: Sequence[_Cell]) -> _Row:
        return _Row((_Cell(name), *cells))

    lines = [line("verdict", [_verdict(row["verdicts"][label]) for label in labels])]
    if row.get("reasons"):
        lines.append(line("reason", [_Cell(row["reasons"].get(label) or "")
                                     for label in labels]))
    events = row.get("kernel_events") or {}
    lines.append(line("kernel's events", [_Cell(events.get(label, "-")) for label in labels]))
    for claim in (c for c in row["claims"] if c["differs"]):
        evidence = claim.get("evidence") or {}
        lines += [line(f"claim {claim['id']}", [_answer(claim["answers"].get(label))
                                                for label in labels]),
                  line("evidence", [_Cell(items=tuple(evidence.get(label) or ()))
                                    for label in labels])]
    lines.append(line("pcap", [_pcap(row["pcaps"].get(label)) for label in labels]))
    head = ["", *(_kernel(kernels.get(label, {"label": label})) for label in labels)]
    title = [_p(row["title"])] if row.get("title") else []
    return [_h(3, _Cell(row["scenario"], code=True), f" — {row['family']}, {row['topology']}",
               mark=True, anchor=_anchor(row)), *title, _table(head, lines)]


def _fidelity(kernels: Sequence[Mapping[str, Any]]) -> list[_Block]:
    """Each kernel's link fidelity, where it has one."""
    having = [k for k in kernels if k.get("link_fidelity") is not None]
    if not having:
        return []
    head = ["scenario", "family", *PLAYERS.values(), "what differs",
            *(f"observed, {name}" for name in PLAYERS.values()), "pcaps"]
    out = [_h(2, "Link fidelity")]
    for kernel in having:
        compared = kernel["link_fidelity"]
        out += [_h(3, _kernel(kernel)),
                _p(f"{compared['runs']} runs with the kernel's netem and the user-space link, "
                   f"{compared['differing']} differ"),
                _table(head, [_fidelity_row(row) for row in compared["rows"]])]
    return out


def _fidelity_row(row: Mapping[str, Any]) -> _Row:
    observed = row.get("observed") or {}
    shown = len({tuple(observed.get(p) or ()) for p in PLAYERS}) > 1
    pcaps = row.get("pcaps") or {}
    tokens = [" ".join(observed.get(p) or ()) if shown else "" for p in PLAYERS]
    return _Row((_Cell(row["scenario"], code=True), _Cell(row["family"]),
                 *(_verdict(row["verdicts"].get(p)) for p in PLAYERS),
                 _Cell(", ".join(row["differs"]) or "-"),
                 *(_Cell(text, code=True) for text in tokens),
                 _Cell(links=tuple((name, _href(pcaps[p])) for p, name in PLAYERS.items()
                                   if pcaps.get(p)))),
                differs=bool(row["differs"]))


def _every_run(table: Mapping[str, Any]) -> list[_Block]:
    """Every row, those that differ first (linking to their section), a cell per kernel."""
    ran = [k for k in table["kernels"] if k["status"] == "ok"]
    if not table["rows"]:
        return [_h(2, "Every run"), _p("No kernel gave results.")]
    rows = [_Row((_Cell(links=((row["scenario"], f"#{_anchor(row)}"),)) if row["differs"]
                  else _Cell(row["scenario"], code=True),
                  _Cell(row["family"]), _Cell(row["topology"]),
                  *(_verdict(row["verdicts"].get(k["label"])) for k in ran)),
                 differs=row["differs"]) for row in table["rows"]]
    return [_h(2, "Every run"), _table(["scenario", "family", "topology", *map(_kernel, ran)],
                                       rows)]


# ---------------------------------------------------------------- Markdown


def render_kernels_markdown(table: Mapping[str, Any]) -> str:
    """kernels.json's table as Markdown: the kernels, what differs, link fidelity, every run."""
    return "\n\n".join(_md_block(block) for block in _blocks(table)) + "\n"


def _md_block(block: _Block) -> str:
    if block.kind == "table":
        return _md_table(block)
    if block.kind == "pre":
        longest = max((len(m) for line in block.lines for m in re.findall("`+", line)),
                      default=0)
        fence = "`" * max(3, longest + 1)
        return "\n".join([fence, *block.lines, fence])
    text = "".join(_md_cell(part) for part in block.parts)
    if block.kind == "p":
        return text
    anchor = f'<a id="{block.anchor}" name="{block.anchor}"></a>' if block.anchor else ""
    mark = f"**{MARK}** " if block.mark else ""
    return f"{'#' * int(block.kind[1:])} {anchor}{mark}{text}"


def _md_text(text: str) -> str:
    """Text made safe for Markdown, in a table cell too."""
    return _TAG_START.sub(r"\\<", _SPACE.sub(" ", text)).replace("|", "\\|")


def _md_cell(cell: _Cell) -> str:
    out = []
    if cell.text:
        code = _SPACE.sub(" ", cell.text).replace("`", "'").replace("|", "\\|")
        out.append(f"`{code}`" if cell.code else _md_text(cell.text))
    if cell.items:
        out.append("<br>".join(_md_text(item) for item in cell.items))
    if cell.links:
        out.append(" · ".join(f"[{_md_text(text)}]({href})" for text, href in cell.links))
    said = " ".join(out)
    return f"**{said}**" if said and cell.kind in _LOUD else said


def _md_table(block: _Block) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    lines = [line([_md_cell(c) for c in block.head]), line(["---"] * len(block.head))]
    for row in block.rows:
        cells = [_md_cell(c) for c in row.cells]
        if row.differs:
            cells[0] = f"**{MARK}** {cells[0]}"
        lines.append(line(cells))
    return "\n".join(lines)


# ---------------------------------------------------------------- HTML

_STYLE = """
body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:24px auto;max-width:1320px;
 padding:0 16px;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ccc}
code,pre{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:.92em}
table{border-collapse:collapse;margin:.6em 0} th,td{border:1px solid #ccc;padding:4px 8px;
 vertical-align:top;text-align:left}
thead th{background:#f0f0f0} td ul{margin:0;padding-left:1.1em}
.v-pass{background:#d8f0d8;color:#1b5e20} .v-fail{background:#fbd5d5;color:#b71c1c}
.v-error{background:#ffe0b2;color:#e65100} .v-none{color:#999}
.c-holds{background:#e8f5e9} .c-does-not-hold{background:#fff3c4;font-weight:bold}
.c-undecided{background:#eee;color:#555}
.differs{background:#fff59d} tr.differs td:first-child{border-left:4px solid #f9a825}
h3.differs{padding:2px 6px}
.badge{padding:1px 7px;border-radius:3px;font-weight:bold;background:#f9a825;color:#fff}
pre{background:#f7f7f7;padding:8px;overflow-x:auto}
"""


def render_kernels_html(table: Mapping[str, Any]) -> str:
    """kernels.json's table as one static page: the kernels, what differs, link fidelity,
    every run."""
    body = [_html_block(block) for block in _blocks(table)]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{TITLE}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>", *body,
        "</body>", "</html>", ""])


_BADGE = f'<span class="badge">{MARK}</span> '


def _html_block(block: _Block) -> str:
    if block.kind == "table":
        return _html_table(block)
    if block.kind == "pre":
        return f'<pre class="console">{escape(chr(10).join(block.lines))}</pre>'
    attrs = (f' id="{escape(block.anchor)}"' if block.anchor else "") + (
        ' class="differs"' if block.mark else "")
    text = (_BADGE if block.mark else "") + "".join(_html_cell(p) for p in block.parts)
    return f"<{block.kind}{attrs}>{text}</{block.kind}>"


def _html_cell(cell: _Cell) -> str:
    out = []
    if cell.text:
        out.append(f"<code>{escape(cell.text)}</code>" if cell.code else escape(cell.text))
    if cell.items:
        out.append("<ul>" + "".join(f"<li>{escape(item)}</li>" for item in cell.items)
                   + "</ul>")
    if cell.links:
        out.append(" · ".join(f'<a href="{escape(href)}">{escape(text)}</a>'
                              for text, href in cell.links))
    return " ".join(out)


def _html_td(cell: _Cell, before: str = "") -> str:
    kind = f' class="{escape(cell.kind)}"' if cell.kind else ""
    return f"<td{kind}>{before}{_html_cell(cell)}</td>"


def _html_table(block: _Block) -> str:
    head = "".join(f"<th>{_html_cell(c)}</th>" for c in block.head)
    rows = []
    for row in block.rows:
        first, *rest = row.cells
        cells = _html_td(first, _BADGE if row.differs else "") + "".join(map(_html_td, rest))
        rows.append(f'<tr class="differs">{cells}</tr>' if row.differs else f"<tr>{cells}</tr>")
    return (f"<table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
