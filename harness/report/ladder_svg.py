"""The ladder of a run drawn as an inline SVG figure, in the manner of the TCP exchanges in
Stevens' UNP: the client's and the server's timelines, each packet an arrow descending from its
sender's line to its receiver's, labelled with its tcpdump flags and numbers, each call written
beside its peer's line.

Time runs down the page but not to scale: every row (packet or step) gets the same height, its
time (seconds from the run's origin) is written in the left column, and a gap of more than
GAP_SHOWN between two rows is drawn as a dashed stretch of both timelines with its length on it.
The right-hand column holds each packet's token and how it stands in the pattern match. Each
side's TCP state is a box on its timeline: the state it ended in at the timeline's foot, a state
it entered at a known moment as a row of its own.

The SVG is an element for an HTML page (no XML prolog, no scripts, nothing fetched): its ids are
prefixed by the uid given, so several ladders can share a page. Hovering an arrow or a step in a
browser shows its full text (the SVG <title> of its group).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from html import escape

from harness.report.ladder import Arrow, Ladder, Row, Step
from harness.report.states import StateMark

#: A gap between two rows longer than this (seconds) is drawn as a break in the timelines.
GAP_SHOWN = 0.1

# Geometry, in pixels.
_TIME_W = 78  # the time column
_SIDE_W = 330  # the client's steps, left of its line; the server's, right of its line
_MID_W = 340  # between the two timelines
_TOKEN_W = 150  # the pattern column
_HEAD_H = 58  # the two headings
_PITCH = 30  # one row
_DROP = 14  # how far an arrow descends between the timelines
_GAP_H = 24  # the extra height of a drawn gap
_FOOT_H = 24
_LEADING = 15  # between the lines of the break's sentence
_STATE_H = 48  # the room the final states' boxes take under the timelines
_CLIENT_X = _TIME_W + _SIDE_W
_SERVER_X = _CLIENT_X + _MID_W
_TOKEN_X = _SERVER_X + _SIDE_W + 30
_WIDTH = _TOKEN_X + _TOKEN_W
_STEP_CHARS = 52  # a step's text beyond this is cut (its <title> keeps it whole)
_SENTENCE_CHARS = 58  # the break's sentence is wrapped at this width

_INK = {"match": "#1a1a1a", "none": "#1a1a1a", "break": "#c62828", "after": "#9e9e9e",
        "other": "#8a8a8a"}
_SIGN = {"match": ("✓", "#2e7d32"), "break": ("✗", "#c62828")}
_STYLE = (".ladder text{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;font-size:12px}"
          ".ladder .mono{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;"
          "font-size:11.5px}"
          ".ladder .halo{paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}")


@dataclass(frozen=True)
class _Placed:
    """A row of the ladder at its height, with the gap drawn above it (seconds, or 0)."""

    row: Row
    y: float
    gap: float


def render_svg(ladder: Ladder, uid: str = "ladder") -> str:
    """The ladder as one <svg class="ladder" data-run="uid"> element; uid (the run's anchor,
    e.g. `default-close-ipv4-loopback`) prefixes every id inside it."""
    prefix = "ladder-" + re.sub(r"[^A-Za-z0-9_-]", "-", uid)
    placed, end = _place(ladder)
    ended_early = bool(placed and ladder.sentence
                       and not any(a.mark == "break" for a in ladder.arrows))
    finals = ladder.final_states()
    below = end + (_STATE_H if finals else 0)  # under the final states
    height = below + _FOOT_H + (_sentence_room(ladder.sentence) if ended_early else 0)
    label = f"Ladder diagram of {ladder.title}" + (f": {ladder.verdict}" if ladder.verdict else "")
    parts = [
        f'<svg class="ladder" data-run="{escape(uid)}" '
        f'role="img" aria-label="{escape(label)}" width="{_WIDTH}" height="{height:g}" '
        f'viewBox="0 0 {_WIDTH} {height:g}">',
        f"<title>{escape(label)}</title>",
        _defs(prefix),
        *_headings(ladder),
        *_timelines(placed, end),
        *(_gap(p) for p in placed if p.gap),
        *(_row(p, ladder, prefix) for p in placed),
        *_final_states(finals, end),
    ]
    if not placed:
        parts.append(_text((_CLIENT_X + _SERVER_X) / 2, _HEAD_H + 20, "no packets, no steps",
                           anchor="middle", fill="#757575", italic=True, halo=True))
    elif ended_early:
        parts.append(_sentence(ladder.sentence, below + 18))
    parts.append("</svg>")
    return "\n".join(parts)


def _place(ladder: Ladder) -> tuple[list[_Placed], float]:
    """Each row's height (a gap adds room above the row after it, the break's sentence below
    the break) and where the timelines end."""
    placed: list[_Placed] = []
    y, previous = _HEAD_H + _PITCH * 0.6, None
    for row in ladder.rows():
        gap = row.time - previous if previous is not None else 0.0
        gap = gap if gap > GAP_SHOWN else 0.0
        y += _GAP_H if gap else 0
        placed.append(_Placed(row, y, gap))
        previous = row.time
        y += _PITCH
        if isinstance(row, Arrow) and row.mark == "break" and ladder.sentence:
            y += _sentence_room(ladder.sentence)
    return placed, max(y, _HEAD_H + _PITCH * 1.5)


def _sentence_room(sentence: str) -> float:
    """The height the sentence's lines take below the break (or the last row)."""
    return _LEADING * (len(_wrap(sentence)) - 1) + 24


def _defs(prefix: str) -> str:
    """An arrowhead marker per colour (a marker does not take its line's colour)."""
    markers = [
        f'<marker id="{prefix}-head-{mark}" viewBox="0 0 10 10" refX="10" refY="5" '
        f'markerWidth="9" markerHeight="7" markerUnits="userSpaceOnUse" orient="auto">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{ink}"/></marker>'
        for mark, ink in _INK.items()]
    return f"<defs><style>{_STYLE}</style>{''.join(markers)}</defs>"


def _headings(ladder: Ladder) -> list[str]:
    out = [_text(_TIME_W - 10, _HEAD_H - 8, "time (s)", anchor="end", fill="#757575"),
           _text(_TOKEN_X, 20, "pattern", fill="#555", bold=True)]
    for x, name, address in ((_CLIENT_X, "client", ladder.client),
                             (_SERVER_X, "server", ladder.server)):
        out.append(_text(x, 20, name, anchor="middle", bold=True, size=14))
        out.append(_text(x, 38, address, anchor="middle", mono=True, fill="#444"))
    return out


def _timelines(placed: list[_Placed], bottom: float) -> list[str]:
    """Both vertical lines, solid between the gaps and dashed across them."""
    top, spans, dashed = _HEAD_H - 4, [], []
    for p in placed:
        if p.gap:
            start = p.y - _GAP_H - _PITCH * 0.45
            spans.append((top, start))
            dashed.append((start, p.y - _PITCH * 0.35))
            top = p.y - _PITCH * 0.35
    spans.append((top, bottom))
    out = []
    for x in (_CLIENT_X, _SERVER_X):
        out += [_line(x, a, x, b, "#1a1a1a", width=1.6) for a, b in spans]
        out += [_line(x, a, x, b, "#1a1a1a", width=1.6, dash="3 4") for a, b in dashed]
    return out


def _gap(p: _Placed) -> str:
    """The length of a gap, written in the dashed stretch of the timelines."""
    middle = p.y - _PITCH * 0.4 - _GAP_H / 2 + 4
    return _text((_CLIENT_X + _SERVER_X) / 2, middle, f"… {_seconds(p.gap)} …",
                 anchor="middle", fill="#616161", italic=True)


def _row(p: _Placed, ladder: Ladder, prefix: str) -> str:
    time = _text(_TIME_W - 10, p.y + 4, f"{p.row.time:.6f}", anchor="end", mono=True,
                 fill="#757575")
    if isinstance(p.row, StateMark):
        return time + _state(p.row, p.y - 10)
    if isinstance(p.row, Step):
        return time + _step(p.row, p.y)
    return time + _arrow(p.row, p.y, ladder, prefix)


def _step(step: Step, y: float) -> str:
    text = _clip(step.text)
    fill = "#c62828" if step.failed else "#1a1a1a"
    if step.side == "client":
        body = (_text(_CLIENT_X - 10, y + 4, text, anchor="end", fill=fill)
                + _tick(_CLIENT_X, y, fill))
    elif step.side == "server":
        body = (_text(_SERVER_X + 10, y + 4, text, fill=fill) + _tick(_SERVER_X, y, fill))
    else:
        body = _text((_CLIENT_X + _SERVER_X) / 2, y + 4, text, anchor="middle",
                     fill="#c62828" if step.failed else "#616161", italic=True, halo=True)
    failed = " (failed)" if step.failed else ""
    return (f'<g class="step {escape(step.side)}"><title>{escape(step.side)}: '
            f"{escape(step.text)}{failed}</title>{body}</g>")


def _final_states(finals: dict[str, StateMark], end: float) -> list[str]:
    """The state each side ended in, in a box at the foot of its timeline, with `final` in
    the time column."""
    if not finals:
        return []
    out = [_text(_TIME_W - 10, end + 15, "final", anchor="end", fill="#757575", italic=True)]
    return out + [_state(mark, end) for mark in finals.values()]


def _state(mark: StateMark, top: float) -> str:
    """A state as a box centred on its side's timeline, top at `top`: the state's name, and
    what the kernel said of the socket under it."""
    x = _CLIENT_X if mark.side == "client" else _SERVER_X
    width = max(len(mark.state) * 7.6, len(mark.detail) * 6.2) + 18
    height = 20 + (14 if mark.detail else 0)
    body = (f'<rect x="{x - width / 2:g}" y="{top:g}" width="{width:g}" height="{height:g}" '
            f'rx="4" fill="#e8eef8" stroke="#34507a" stroke-width="1.2"/>'
            + _text(x, top + 14, mark.state, anchor="middle", mono=True, bold=True,
                    fill="#1a2a44"))
    if mark.detail:
        body += _text(x, top + 28, mark.detail, anchor="middle", fill="#444", size=10.5)
    when = ("the state sock_diag read when the run ended" if mark.final
            else f"the state entered at {mark.time:.6f} s")
    kind = "final" if mark.final else "entered"
    return (f'<g class="state {kind} {escape(mark.side)}"><title>{escape(mark.side)}: '
            f"{escape(mark.text)}, {when}</title>{body}</g>")


def _tick(x: float, y: float, fill: str) -> str:
    return f'<circle cx="{x:g}" cy="{y:g}" r="2.6" fill="{fill}"/>'


def _arrow(arrow: Arrow, y: float, ladder: Ladder, prefix: str) -> str:
    """The packet's line and head, its label above the line, its token on the right."""
    mark = arrow.mark if arrow.mark in _INK else "none"
    ink = _INK[mark]
    start, end = (_CLIENT_X, _SERVER_X) if arrow.direction == ">" else (_SERVER_X, _CLIENT_X)
    heading = 1 if end > start else -1
    x1, x2 = start + heading * 2, end - heading * 1.5
    dash = "5 3" if mark == "other" else None
    line = _line(x1, y, x2, y + _DROP, ink, width=2.2 if mark == "break" else 1.4, dash=dash,
                 marker=f"{prefix}-head-{mark}")
    angle = math.degrees(math.atan2(_DROP, abs(x2 - x1))) * heading
    mx, my = (x1 + x2) / 2, y + _DROP / 2
    label = _text(mx, my - 5, arrow.label, anchor="middle", mono=True, fill=ink,
                  bold=mark == "break", rotate=(angle, mx, my))
    body = line + label + _token(arrow, y, mark)
    if mark == "break" and ladder.sentence:
        body += _sentence(ladder.sentence, y + _DROP + 18)
    opacity = ' opacity="0.55"' if mark == "after" else ""
    title = "\n".join([f"frame {arrow.frame}, stream {arrow.stream}: {arrow.token} "
                       f"{arrow.label}", *arrow.comments])
    return (f'<g class="arrow {mark}"{opacity}><title>{escape(title)}</title>{body}</g>')


def _token(arrow: Arrow, y: float, mark: str) -> str:
    """The packet's token in the pattern column, with ✓ (matched) or ✗ (the break)."""
    out = _text(_TOKEN_X, y + 11, arrow.token, mono=True, fill=_INK[mark], bold=mark == "break")
    sign, colour = _SIGN.get(mark, ("", ""))
    if sign:
        out += _text(_TOKEN_X + 40, y + 11, sign, fill=colour, bold=True, size=14)
    elif mark == "other":
        out += _text(_TOKEN_X + 40, y + 11, f"stream {arrow.stream}", fill=_INK[mark],
                     italic=True)
    elif mark == "after":
        out += _text(_TOKEN_X + 40, y + 11, "after the break", fill=_INK[mark], italic=True)
    return out


def _sentence(sentence: str, y: float) -> str:
    """Why the match broke, in red under the break (or under the last row)."""
    lines = _wrap(sentence)
    spans = "".join(f'<tspan x="{(_CLIENT_X + _SERVER_X) / 2:g}" dy="{0 if i == 0 else _LEADING}">'
                    f"{escape(line)}</tspan>" for i, line in enumerate(lines))
    return (f'<text class="sentence halo" x="{(_CLIENT_X + _SERVER_X) / 2:g}" y="{y:g}" '
            f'text-anchor="middle" fill="#c62828" font-weight="bold">{spans}</text>')


# ---------------------------------------------------------------- small helpers


def _text(x: float, y: float, text: str, *, anchor: str = "start", fill: str = "#1a1a1a",
          mono: bool = False, bold: bool = False, italic: bool = False, halo: bool = False,
          size: float | None = None, rotate: tuple[float, float, float] | None = None) -> str:
    classes = " ".join(c for c, on in (("mono", mono), ("halo", halo)) if on)
    attrs = [f'x="{x:g}"', f'y="{y:g}"', f'fill="{fill}"']
    attrs += [f'text-anchor="{anchor}"'] if anchor != "start" else []
    attrs += [f'class="{classes}"'] if classes else []
    attrs += ['font-weight="bold"'] if bold else []
    attrs += ['font-style="italic"'] if italic else []
    attrs += [f'style="font-size:{size:g}px"'] if size else []
    if rotate and abs(rotate[0]) > 0.01:
        attrs.append(f'transform="rotate({rotate[0]:.2f} {rotate[1]:g} {rotate[2]:g})"')
    return f"<text {' '.join(attrs)}>{escape(text)}</text>"


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, *, width: float = 1.0,
          dash: str | None = None, marker: str | None = None) -> str:
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    extra += f' marker-end="url(#{marker})"' if marker else ""
    return (f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="{stroke}" '
            f'stroke-width="{width:g}"{extra}/>')


def _clip(text: str, width: int = _STEP_CHARS) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _wrap(text: str, width: int = _SENTENCE_CHARS) -> list[str]:
    """Words in lines of at most width characters (a longer word stands alone)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _seconds(gap: float) -> str:
    """`250 ms`, `1.02 s`."""
    return f"{gap * 1000:.0f} ms" if gap < 1 else f"{gap:.2f} s"
