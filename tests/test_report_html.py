"""index.html and its ladder figures, rendered from synthetic results.json runs (no capture)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from html import escape as escape_html
from html.parser import HTMLParser
from typing import Any

from harness.core.document import Results, RunEntry
from harness.report import claims as report_claims
from harness.report import html, ladder
from harness.report import runs as report_runs
from harness.report.html import pcap_href
from harness.report.ladder import Ladder
from harness.report.ladder_svg import render_svg


# The documents below are written as results.json holds them, and read as `harness report`
# reads them.
def render_html(document: dict[str, Any], pcap_base: str = ".") -> str:
    return html.render_html(Results.from_json(document), pcap_base)


def run_keys(runs: list[dict[str, Any]]) -> list[str]:
    return report_runs.run_keys([RunEntry.from_json(run) for run in runs])


def claim_groups(runs: list[dict[str, Any]]) -> list:
    return report_claims.claim_groups([RunEntry.from_json(run) for run in runs])


def ladder_from_run(entry: dict[str, Any]) -> Ladder:
    return ladder.ladder_from_run(RunEntry.from_json(entry))


KERNEL = "6.18.0-test"
NASTY = 'close() <now> & "abort" \'quoted\''
BREAK = "packet 6 <F. does not fit: the pattern expected <R. there"
RED = "#c62828"
VOID = {"meta", "br", "link", "img", "input", "hr", "wbr", "source", "col", "area", "base"}


def packet(frame: int, t: float, tok: str, seq: int, ack: int | None, length: int = 0, *,
           stream: int = 0, comments: tuple[str, ...] = ()) -> dict[str, Any]:
    flags = tok[1:]
    label = f"{flags} seq {seq}" + (f" ack {ack}" if ack is not None else "")
    label += f" len {length}" if length else ""
    return {"frame": frame, "t": t, "stream": stream, "dir": tok[0], "token": tok,
            "flags": flags, "seq": seq, "ack": ack, "len": length, "win": 64, "label": label,
            "comments": list(comments)}


def call(t: float, text: str, **changes: Any) -> dict[str, Any]:
    peer, rest = text.split(": ", 1)
    entry = {"peer": peer, "sock": peer, "call": rest.split("(")[0].split(".")[-1], "args": {},
             "return": 0, "errno": None, "elapsed": 0.0001, "blocked": False, "t": t,
             "text": text}
    entry.update(changes)
    return entry


def claim(claim_id: str, verdict: str, text: str, linux: str = "holds") -> dict[str, Any]:
    return {"id": claim_id, "text": text, "source": "socket(7)", "verdict": verdict,
            "linux": linux, "evidence": [f"evidence for {claim_id}.", "no RST among 9 packets"]}


def run(scenario: str, family: str, verdict: str, packets: list[dict], calls: list[dict],
        **changes: Any) -> dict[str, Any]:
    host = "127.0.0.1" if family == "ipv4" else "[::1]"
    entry: dict[str, Any] = {
        "id": scenario, "title": f"The {scenario} title",
        "statement": "A statement\n  on two lines.", "source": "UNP §7.5",
        "family": family, "topology": "loopback", "verdict": verdict,
        "pattern": " ".join(p["token"] for p in packets if p["stream"] == 0),
        "observed": [p["token"] for p in packets if p["stream"] == 0],
        "pcap": f"pcaps/{scenario}-{family}.pcapng", "calls": calls,
        "states": {"client": {"state": "CLOSED"}, "server": {"state": "TIME-WAIT"}},
        "capture": {"frames": len(packets)}, "claims": [],
        "crosscheck": {"by": "TShark (Wireshark) 4.0.17", "frames": len(packets), "agrees": True},
        "story": [f"== {scenario} ({family}, loopback)", f"{verdict.upper()} {scenario}"],
        "client_address": f"{host}:40000", "server_address": f"{host}:5000",
        "origin": 1_700_000_000.0, "packets": packets,
        "match": {"ok": True, "failed_at": None, "expected": [], "sentence": "", "columns": []},
    }
    entry.update(changes)
    return entry


def _handshake(t: float = 0.0006, stream: int = 0, frame: int = 1) -> list[dict[str, Any]]:
    return [packet(frame, t, ">S", 0, None, stream=stream,
                   comments=("client: client.connect() → 0 in 0.1 ms; sent this",)),
            packet(frame + 1, t + 0.00002, "<S.", 0, 1, stream=stream),
            packet(frame + 2, t + 0.00004, ">.", 1, 1, stream=stream)]


def passing_run() -> dict[str, Any]:
    packets = [*_handshake(),
               packet(4, 0.0019, ">P.", 1, 1, 100),
               packet(5, 0.00191, "<.", 1, 101),
               packet(6, 0.0049, "<F.", 1, 101, comments=(
                   "server: conn.close() → 0 in 0.0 ms; sent this",
                   "pattern: packet 6 of 9 <F. matched")),
               packet(7, 0.0121, ">.", 101, 2),
               packet(8, 0.0153, ">F.", 101, 2),
               packet(9, 0.01531, "<.", 2, 102)]
    calls = [call(0.0, "server: server.listen(16) → 0 in 0.1 ms"),
             call(0.0005, "client: client.connect() → 0 in 0.1 ms"),
             call(0.0016, "server: server.accept(conn) → 4 in 0.0 ms"),
             call(0.0018, "client: client.send(<100 bytes>) → 100 in 0.1 ms"),
             call(0.0048, "server: conn.close() → 0 in 0.0 ms"),
             call(0.0054, "lab: server.wait_state(FIN-WAIT-2) → 0 in 9.8 ms"),
             call(0.0152, "client: client.close() → 0 in 0.1 ms")]
    return run("default-close", "ipv4", "pass", packets, calls,
               claims=[claim("returns-at-once", "holds", "close() returns at once.")])


def failing_run() -> dict[str, Any]:
    packets = [*_handshake(),
               packet(4, 0.0019, ">P.", 1, 1, 100),
               packet(5, 0.00191, "<.", 1, 101),
               packet(6, 1.0249, "<F.", 1, 101, comments=(f"pattern: BROKE HERE: {BREAK}",)),
               packet(7, 1.0252, ">.", 101, 2),
               packet(8, 1.0300, ">F.", 101, 2),
               packet(9, 1.03002, "<.", 2, 102)]
    calls = [call(0.0, "server: server.listen(16) → 0 in 0.1 ms"),
             call(0.0005, "client: client.connect() → 0 in 0.1 ms"),
             call(0.0020, "server: conn.set_linger(1, 0) → 0 in 0.0 ms"),
             call(1.0248, f"server: conn.close() with SO_LINGER {{1,0}} → 0 in 0.0 ms {NASTY}"),
             call(1.0251, "client: client.recv(100) → -1 ECONNRESET in 0.0 ms",
                  error="peer went away"),
             call(1.0299, "client: client.close() → 0 in 0.1 ms")]
    return run("linger-abort-server", "ipv6", "fail", packets, calls, title=NASTY,
               pattern=">S <S. >. >P. <. <R.", reason=f"wire: {BREAK}",
               crosscheck={"by": "TShark", "frames": 9, "agrees": False,
                           "disagreements": ["frame 6: <F. here, <R. in tshark"]},
               claims=[claim("abort-resets", "does not hold", f"An abort resets. {NASTY}")],
               match={"ok": False, "failed_at": 5, "expected": ["<R."], "sentence": BREAK,
                      "columns": [0, 3, 7, 10, 14]})


def two_stream_run() -> dict[str, Any]:
    first, second = _handshake(0.001), _handshake(0.002, stream=1, frame=4)
    packets = [*first, *second,
               packet(7, 0.010, "<R.", 1, 1, comments=("server: server.close() → 0 in 0.1 ms",)),
               packet(8, 0.01001, "<R.", 1, 1, stream=1,
                      comments=("pattern: stream 1, not the judged connection (stream 0)",))]
    calls = [call(0.0, "server: server.listen(16) → 0 in 0.1 ms"),
             call(0.0009, "client: client.connect() → 0 in 0.1 ms"),
             call(0.0019, "second: second.connect() → 0 in 0.1 ms"),
             call(0.0099, "server: server.close() → 0 in 0.1 ms")]
    return run("listener-close-resets-queue", "ipv4", "error", packets, calls,
               reason="harness: the lab timed out",
               claims=[claim("resets-each", "undecided", "Each queued connection is reset.")])


def results() -> dict[str, Any]:
    return {"kernel": KERNEL, "runs": [passing_run(), failing_run(), two_stream_run()]}


# ---------------------------------------------------------------- walking the page


class _Page(HTMLParser):
    """Every element (tag, attributes, text inside it), checking that tags nest properly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.elements: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = (tag, dict(attrs), [])
        self.elements.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs), []))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1][0] if self.stack else None}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        for _, _, text in self.stack:
            text.append(data)

    def find(self, tag: str, **attrs: str) -> list[tuple[dict[str, str | None], str]]:
        return [(a, "".join(text)) for t, a, text in self.elements
                if t == tag and all(a.get(k.rstrip("_")) == v for k, v in attrs.items())]


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and [t for t, _, _ in parser.stack] == []
    return parser


def _svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg\b.*?</svg>", page, re.DOTALL)]


def _text(element: ET.Element) -> str:
    return "".join(element.itertext())


# ---------------------------------------------------------------- the page


def test_the_page_parses_and_its_heading_names_the_kernel() -> None:
    page = render_html(results())
    parsed = _parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert [text for _, text in parsed.find("h1")] == [
        f"What closing a TCP connection does on Linux {KERNEL}"]


def test_the_matrix_has_a_cell_per_run_with_its_verdict_linking_to_its_section() -> None:
    runs = results()["runs"]
    parsed = _parse(render_html(results()))
    anchors = ["run-" + key for key in run_keys(runs)]
    assert anchors == ["run-default-close-ipv4-loopback", "run-linger-abort-server-ipv6-loopback",
                       "run-listener-close-resets-queue-ipv4-loopback"]
    sections = {a["id"] for a, _ in parsed.find("section")}
    for anchor, label in zip(anchors, ["PASS", "FAIL", "ERROR"], strict=True):
        assert label in [text for _, text in parsed.find("a", href=f"#{anchor}")]
        assert anchor in sections
    matrix = next(text for _, text in parsed.find("table", class_="matrix"))
    assert matrix.count("PASS") == 1 and matrix.count("FAIL") == 1
    assert matrix.count("ERROR") == 1 and matrix.count("—") == 3  # 3 scenarios by 2 families


def test_matrix_cells_are_coloured_by_verdict() -> None:
    parsed = _parse(render_html(results()))
    classes = [a["class"] for a, _ in parsed.find("td") if "verdict" in (a.get("class") or "")]
    assert classes == ["verdict v-pass", "verdict v-fail", "verdict v-error"]
    style = next(text for _, text in parsed.find("style"))
    assert ".v-pass{background:#d8f0d8" in style and ".v-fail{background:#fbd5d5" in style


def test_the_claims_table_puts_those_that_do_not_hold_first() -> None:
    parsed = _parse(render_html(results()))
    rows = [text for _, text in parsed.find("tr")]
    claim_rows = [r for r in rows if "evidence for" in r]
    assert [re.search(r"evidence for ([a-z-]+)\.", r)[1] for r in claim_rows] == [
        "abort-resets", "resets-each", "returns-at-once"]  # undecided before holds, as in REPORT.md
    assert "UNEXPECTED" in claim_rows[0]
    assert [g[0].id for g in claim_groups(results()["runs"])] == [
        "abort-resets", "resets-each", "returns-at-once"]


def test_a_claim_decided_by_two_families_is_one_row_with_a_pcap_link_each() -> None:
    second = passing_run() | {"family": "ipv6", "pcap": "pcaps/default-close-ipv6.pcapng"}
    parsed = _parse(render_html({"kernel": KERNEL, "runs": [passing_run(), second]},
                                pcap_base="pcaps"))
    claim_rows = [text for _, text in parsed.find("tr") if "evidence for" in text]
    assert len(claim_rows) == 1
    links = [a["href"] for a, text in parsed.find("a") if text in ("ipv4", "ipv6")]
    assert links == ["default-close-ipv4.pcapng", "default-close-ipv6.pcapng"]


def test_pcap_links_are_relative_to_the_page() -> None:
    assert pcap_href("pcaps/x-ipv4.pcapng", "pcaps") == "x-ipv4.pcapng"
    assert pcap_href("pcaps/x-ipv4.pcapng") == "pcaps/x-ipv4.pcapng"
    assert pcap_href("pcaps/a b.pcapng", "docs") == "../pcaps/a%20b.pcapng"
    parsed = _parse(render_html(results(), pcap_base="pcaps"))
    hrefs = {a["href"] for a, _ in parsed.find("a")}
    assert "default-close-ipv4.pcapng" in hrefs and "linger-abort-server-ipv6.pcapng" in hrefs


def test_each_run_section_has_its_facts_and_a_collapsed_story() -> None:
    page = render_html(results())
    parsed = _parse(page)
    section = next(text for a, text in parsed.find("section")
                   if a["id"] == "run-linger-abort-server-ipv6-loopback")
    assert "pattern>S <S. >. >P. <. <R." in section
    assert f"FAILwire: {BREAK}" in section
    assert "disagrees" in section and "frame 6: <F. here, <R. in tshark" in section
    assert "A statement on two lines." in section and "sourceUNP §7.5" in section
    assert "<th>cross-check</th><td>TShark (Wireshark) 4.0.17 read 9 frames and agrees</td>" \
        in page
    stories = [text for _, text in parsed.find("details")]
    assert len(stories) == 3 and all("== " in s for s in stories)
    assert all("open" not in a for a, _ in parsed.find("details"))
    assert len(parsed.find("pre")) == 3


def test_one_ladder_per_run_marked_with_its_anchor() -> None:
    page = render_html(results())
    svgs = _svgs(page)
    assert [svg.get("data-run") for svg in svgs] == run_keys(results()["runs"])
    assert all(svg.get("class") == "ladder" and svg.get("role") == "img" for svg in svgs)
    assert all(svg.get("aria-label") and svg.get("viewBox") for svg in svgs)
    assert page.count('class="ladder"') == 3


def test_ids_are_unique_across_the_page_and_references_stay_in_their_svg() -> None:
    page = render_html(results())
    ids = [a["id"] for _, a, _ in _parse(page).elements if "id" in a]
    assert len(ids) > 3 * 5 and not [i for i, n in Counter(ids).items() if n > 1]
    for svg in _svgs(page):
        own = {e.get("id") for e in svg.iter() if e.get("id")}
        used = {m for e in svg.iter() for m in re.findall(r"url\(#([^)]+)\)",
                                                          e.get("marker-end") or "")}
        assert used and used <= own


def test_nothing_is_fetched_from_the_network() -> None:
    page = render_html(results())
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<img" not in page and "<link" not in page
    assert "@import" not in page and "url(http" not in page


def test_text_with_markup_characters_is_escaped() -> None:
    page = render_html(results())
    assert NASTY not in page
    assert "close() &lt;now&gt; &amp; &quot;abort&quot; &#x27;quoted&#x27;" in page
    parsed = _parse(page)
    titles = [text for a, text in parsed.find("p") if a.get("class") == "title"]
    assert NASTY in titles
    claims = [text for _, text in parsed.find("td") if "An abort resets." in text]
    assert claims and NASTY in claims[0]


# ---------------------------------------------------------------- the ladder figure


def _ladder_svg(entry: dict[str, Any], uid: str = "run") -> ET.Element:
    return ET.fromstring(render_svg(ladder_from_run(entry), uid=uid))


def _groups(svg: ET.Element, kind: str) -> list[ET.Element]:
    return [g for g in svg.iter("g") if (g.get("class") or "").split()[0] == kind]


def test_the_break_arrow_is_red_and_carries_the_sentence() -> None:
    svg = _ladder_svg(failing_run())
    broken = [g for g in _groups(svg, "arrow") if "break" in g.get("class", "")]
    assert len(broken) == 1
    line = broken[0].find("line")
    assert line is not None and line.get("stroke") == RED
    assert line.get("marker-end") == "url(#ladder-run-head-break)"
    sentence = [t for t in broken[0].iter("text") if "sentence" in (t.get("class") or "")]
    assert " ".join(_text(sentence[0]).split()) == BREAK
    assert sentence[0].get("fill") == RED
    assert BREAK in _text(broken[0].find("title"))


def test_arrows_after_the_break_are_dimmed_and_matched_ones_are_ticked() -> None:
    svg = _ladder_svg(failing_run())
    arrows = _groups(svg, "arrow")
    marks = [g.get("class").split()[1] for g in arrows]
    assert marks == ["match"] * 5 + ["break"] + ["after"] * 3
    assert all(g.get("opacity") for g in arrows if "after" in g.get("class"))
    assert all("✓" in _text(g) for g in arrows[:5]) and "✗" in _text(arrows[5])
    assert [_text(g.find("text[@class='mono']")) for g in arrows[:1]] == ["S seq 0"]


def test_a_long_gap_is_drawn_as_a_break_in_the_timelines_with_its_length() -> None:
    svg = _ladder_svg(failing_run())
    texts = [_text(t) for t in svg.iter("text")]
    assert "… 1.02 s …" in texts
    dashed = [line for line in svg.iter("line") if line.get("stroke-dasharray") == "3 4"]
    assert len(dashed) == 2  # a dashed stretch on each timeline
    assert not [t for t in _ladder_svg(passing_run()).iter("text") if "…" in _text(t)]


def test_steps_sit_beside_their_own_timeline_and_failed_ones_are_red() -> None:
    svg = _ladder_svg(failing_run())
    steps = _groups(svg, "step")
    sides = [g.get("class").split()[1] for g in steps]
    assert sides == ["server", "client", "server", "server", "client", "client"]
    client = [g for g in steps if "client" in g.get("class")]
    texts = [t for t in client[0].iter("text")]
    assert texts[0].get("text-anchor") == "end"
    failed = [g for g in steps if "failed" in _text(g.find("title"))]
    assert len(failed) == 1 and failed[0].find("text").get("fill") == RED
    lab = _groups(_ladder_svg(passing_run()), "step")
    assert [g.find("text").get("font-style") for g in lab if "lab" in g.get("class")] == [
        "italic"]


def test_the_other_streams_arrows_are_grey_and_every_arrow_has_its_comments_as_a_title() -> None:
    svg = _ladder_svg(two_stream_run())
    arrows = _groups(svg, "arrow")
    other = [g for g in arrows if "other" in g.get("class")]
    assert len(other) == 4
    assert {g.find("line").get("stroke") for g in other} == {"#8a8a8a"}
    titles = [_text(g.find("title")) for g in arrows]
    assert "client: client.connect() → 0 in 0.1 ms; sent this" in titles[0]
    assert all(t.startswith("frame ") for t in titles)


def test_the_headings_name_both_ends_and_the_size_follows_the_rows() -> None:
    short = _ladder_svg(two_stream_run())
    long = _ladder_svg(passing_run())
    texts = [_text(t) for t in long.iter("text")]
    assert {"client", "server", "127.0.0.1:40000", "127.0.0.1:5000"} <= set(texts)
    assert float(long.get("height")) > float(short.get("height"))
    assert long.get("viewBox") == f"0 0 {long.get('width')} {long.get('height')}"


def test_an_empty_ladder_is_still_a_valid_svg() -> None:
    text = render_svg(Ladder(title="nothing happened", client="client", server="server"),
                      uid="empty")
    svg = ET.fromstring(text)
    assert svg.tag == "svg" and svg.get("class") == "ladder" and svg.get("data-run") == "empty"
    assert float(svg.get("height")) > 0 and float(svg.get("width")) > 0
    assert not text.startswith("<?xml") and "<script" not in text
    assert _groups(svg, "arrow") == [] and _groups(svg, "step") == []


def test_ids_inside_a_ladder_come_from_its_uid() -> None:
    svg = _ladder_svg(passing_run(), uid="a b/c")
    ids = [e.get("id") for e in svg.iter() if e.get("id")]
    assert ids and all(i.startswith("ladder-a-b-c-") for i in ids)
    assert svg.get("data-run") == "a b/c"


def test_a_claim_decided_on_two_topologies_names_each_run() -> None:
    veth = passing_run() | {"topology": "veth", "pcap": "pcaps/default-close-ipv4-veth.pcapng"}
    page = render_html({"kernel": KERNEL, "runs": [passing_run(), veth]}, pcap_base="pcaps")
    assert '<a href="default-close-ipv4.pcapng">ipv4</a>' in page
    assert '<a href="default-close-ipv4-veth.pcapng">ipv4 veth</a>' in page


# ---------------------------------------------------------------- what did not pass, first


def test_the_runs_that_did_not_pass_come_first_each_linking_to_its_section() -> None:
    page = render_html(results())
    parsed = _parse(page)
    headings = [text for _, text in parsed.find("h2")]
    assert headings[:3] == ["Did not pass", "Runs", "Claims"]
    assert page.index("Did not pass") < page.index('class="matrix"')
    (listed,) = [text for _, text in parsed.find("ul", class_="not-passed")]
    items = [text for _, text in parsed.find("li")
             if text in listed and text.startswith(("FAIL", "ERROR"))]
    assert items == [f"FAIL linger-abort-server — ipv6, loopback: wire: {BREAK}",
                     "ERROR listener-close-resets-queue — ipv4, loopback: harness: the lab "
                     "timed out"]
    assert ('<li><a href="#run-linger-abort-server-ipv6-loopback"><span class="badge v-fail">'
            "FAIL</span> <code>linger-abort-server</code> — ipv6, loopback</a>: ") in page
    sections = {a["id"] for a, _ in parsed.find("section")}
    hrefs = re.findall(r'href="#([^"]+)"', page.split('class="not-passed"')[1].split("</ul>")[0])
    assert hrefs == ["run-linger-abort-server-ipv6-loopback",
                     "run-listener-close-resets-queue-ipv4-loopback"]
    assert set(hrefs) <= sections


def test_when_every_run_passed_the_page_says_so_in_one_line() -> None:
    second = passing_run() | {"family": "ipv6"}
    parsed = _parse(render_html({"kernel": KERNEL, "runs": [passing_run(), second]}))
    assert [text for _, text in parsed.find("p", class_="all-passed")] == ["All 2 runs passed."]
    assert parsed.find("ul", class_="not-passed") == []


def test_a_runs_reasons_are_a_list_and_the_top_gives_the_first() -> None:
    failing = failing_run() | {"reasons": [f"wire: {BREAK}", "client: expected final state "
                                           "CLOSED; the kernel reports TIME-WAIT"]}
    page = render_html({"kernel": KERNEL, "runs": [failing]})
    parsed = _parse(page)
    assert len(parsed.find("div", class_="reason")) == 1
    assert ('<div class="reason"><strong>FAIL</strong><ul>'
            f"<li>wire: {escape_html(BREAK)}</li>"
            "<li>client: expected final state CLOSED; the kernel reports TIME-WAIT</li>"
            "</ul></div>") in page
    (listed,) = [text for _, text in parsed.find("ul", class_="not-passed")]
    assert listed.endswith(f": wire: {BREAK}") and "TIME-WAIT" not in listed


def test_evidence_is_labelled_with_the_runs_it_came_from() -> None:
    page = render_html(results())
    assert ('<p class="evidence-runs">ipv4, loopback</p><ul><li>evidence for returns-at-once.'
            "</li><li>no RST among 9 packets</li></ul>") in page
    assert '<p class="evidence-runs">ipv6, loopback</p><ul><li>evidence for abort-resets.' in page


def test_evidence_decided_differently_is_shown_for_each_run() -> None:
    veth = passing_run() | {"topology": "veth", "claims": [
        claim("returns-at-once", "does not hold", "close() returns at once.")]}
    veth["claims"][0]["evidence"] = ["conn.close() = 0 (1.000 s)"]
    parsed = _parse(render_html({"kernel": KERNEL, "runs": [passing_run(), veth]}))
    cells = [text for _, text in parsed.find("td") if "evidence for returns-at-once" in text]
    assert cells == ["ipv4, loopbackevidence for returns-at-once.no RST among 9 packets"
                     "ipv4, vethconn.close() = 0 (1.000 s)"]


def test_the_final_states_fact_gives_the_queues() -> None:
    states = {"client": {"state": "CLOSED"},
              "server": {"state": "FIN-WAIT-1", "local": "127.0.0.1:5000",
                         "remote": "127.0.0.1:40000", "send_q": 2985985, "orphan": True}}
    page = render_html({"kernel": KERNEL, "runs": [passing_run() | {"states": states}]})
    assert ("<th>final states</th><td>client CLOSED, server FIN-WAIT-1 (send_q 2985985, "
            "orphan)</td>") in page


# ---------------------------------------------------------------- states on the lifelines


def _lifelines(svg: ET.Element) -> dict[float, float]:
    """x of each timeline -> where its lowest stretch ends."""
    ends: dict[float, float] = {}
    for line in svg.iter("line"):
        if line.get("x1") == line.get("x2") and line.get("stroke-width") == "1.6":
            x = float(line.get("x1"))
            ends[x] = max(ends.get(x, 0.0), float(line.get("y2")))
    return ends


def test_each_sides_final_state_sits_at_the_foot_of_its_lifeline() -> None:
    states = {"client": {"state": "CLOSED"},
              "server": {"state": "FIN-WAIT-1", "local": "127.0.0.1:5000",
                         "remote": "127.0.0.1:40000", "send_q": 2985985, "orphan": True}}
    svg = _ladder_svg(passing_run() | {"states": states})
    finals = _groups(svg, "state")
    assert [g.get("class") for g in finals] == ["state final client", "state final server"]
    assert [[_text(t) for t in g.iter("text")] for g in finals] == [
        ["CLOSED"], ["FIN-WAIT-1", "send_q 2985985, orphan"]]
    assert _text(finals[1].find("title")) == ("server: FIN-WAIT-1 (send_q 2985985, orphan), "
                                              "the state sock_diag read when the run ended")
    ends = _lifelines(svg)
    assert len(ends) == 2
    for group, x in zip(finals, sorted(ends), strict=True):
        box = group.find("rect")
        assert float(box.get("x")) + float(box.get("width")) / 2 == x  # centred on its line
        assert float(box.get("y")) == ends[x]  # where the line ends
        assert float(box.get("y")) + float(box.get("height")) < float(svg.get("height"))
    arrows_end = max(float(line.get("y2")) for g in _groups(svg, "arrow")
                     for line in g.iter("line"))
    assert all(float(g.find("rect").get("y")) > arrows_end for g in finals)
    assert "final" in [_text(t) for t in svg.iter("text")]


def test_a_run_without_states_draws_no_state_boxes() -> None:
    with_states = _ladder_svg(passing_run())
    without = _ladder_svg(passing_run() | {"states": {}})
    assert _groups(without, "state") == [] and len(_groups(with_states, "state")) == 2
    assert float(without.get("height")) < float(with_states.get("height"))


def test_a_state_entered_at_a_moment_is_a_box_on_its_lifeline_at_that_row() -> None:
    from harness.report.states import StateMark

    model = ladder_from_run(passing_run())
    model.states.append(StateMark(side="server", state="FIN-WAIT-1", time=0.00495))
    svg = ET.fromstring(render_svg(model, uid="run"))
    (entered,) = [g for g in _groups(svg, "state") if "entered" in g.get("class")]
    assert entered.get("class") == "state entered server"
    assert _text(entered.find("title")) == ("server: FIN-WAIT-1, the state entered at "
                                            "0.004950 s")
    times = [_text(t) for t in svg.iter("text") if t.get("class") == "mono"
             and _text(t).startswith("0.00")]
    assert times.index("0.004950") == times.index("0.004900") + 1  # right after the FIN
