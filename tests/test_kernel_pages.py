"""The table of what changed between kernels as Markdown and as HTML, from hand-made results
documents (built as in test_kernel_table): the row that differs first and highlighted, a
verdict per kernel, each side's evidence of a claim that differs, pcap links, an ERROR
column's console escaped, a sentence when nothing differs, link fidelity only where a column
has it."""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from typing import Any

from harness.core import link_fidelity
from harness.core.document import Results
from harness.core.kernel_table import Column, build
from harness.report.kernel_pages import (
    NOTHING_DIFFERS,
    render_kernels_html,
    render_kernels_markdown,
)


def _run(scenario: str, verdict: str = "pass", claim: str = "holds", family: str = "ipv4",
         where: str = "host", observed: tuple[str, ...] = (">S", "<S.", ">.")) -> dict[str, Any]:
    run: dict[str, Any] = {
        "id": scenario, "title": f"{scenario}'s title", "family": family,
        "topology": "loopback", "verdict": verdict, "observed": list(observed),
        "pcap": f"{where}/{scenario}-{family}.pcapng",
        "claims": [{"id": f"{scenario}-claim", "text": "t", "source": "s", "verdict": claim,
                    "linux": "holds", "evidence": [f"evidence of {claim} on {where}"]}],
        "kernel": {"traced": True}, "transitions": {}, "resets": []}
    if verdict != "pass":
        run["reason"] = f"{scenario} did not pass on {where}"
        run["reasons"] = [run["reason"]]
    return run


def _results(kernel: str, runs: list[dict[str, Any]]) -> Results:
    return Results.from_json({"kernel": kernel, "runs": copy.deepcopy(runs)})


HOST = [_run("default-close"), _run("linger-abort-client"), _run("half-close")]
# 6.1's guest writes to a folder with a space, to see the links quoted.
OLD = [_run("default-close", where="6.1 guest"),
       _run("linger-abort-client", verdict="fail", claim="undecided", where="6.1 guest"),
       _run("half-close", where="6.1 guest")]
CONSOLE = ("[    0.9] <6>virtio_blk virtio0: [vda] 2048 blocks & more",
           "[    1.0] Kernel panic - not syncing: <no init found>")


def _two() -> dict[str, Any]:
    return build([Column("6.18", True, _results("6.18", HOST),
                         facts={"catalog_seconds": 12.5, "pages": "host/index.html"}),
                  Column("6.1", results=_results("6.1", OLD),
                         facts={"accel": "tcg", "boot_seconds": 4.2, "qemu_peak_rss_mb": 611})])


def _section(text: str, start: str, end: str | None = None) -> str:
    after = text[text.index(start):]
    return after[:after.index(end)] if end else after


class _Text(HTMLParser):
    """The text of each <pre> and the classes of each <tr> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.pre: list[str] = []
        self.inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre":
            self.inside = True
            self.pre.append("")

    def handle_endtag(self, tag: str) -> None:
        self.inside = self.inside and tag != "pre"

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.pre[-1] += data


def test_markdown_puts_the_row_that_differs_first_marked_with_a_verdict_per_kernel() -> None:
    md = render_kernels_markdown(_two())
    assert md.startswith("# What changed between kernels\n\n"
                         "2 kernels, 0 without results; 3 rows, 1 differing.")
    matrix = _section(md, "## Every run").splitlines()
    assert matrix[2:4] == [
        "| scenario | family | topology | [6.18 (host)](host/index.html) | 6.1 |",
        "| --- | --- | --- | --- | --- |"]
    assert matrix[4] == ("| **DIFFERS** [linger-abort-client](#differs-linger-abort-client-ipv4-"
                         "loopback) | ipv4 | loopback | PASS | **FAIL** |")
    assert matrix[5:7] == ["| `default-close` | ipv4 | loopback | PASS | PASS |",
                           "| `half-close` | ipv4 | loopback | PASS | PASS |"]
    kernels = _section(md, "## The kernels", "## What differs")
    assert "| 6.1 | ok | 3 | 2 | 1 | 0 | tcg | 4.2 | - | - | - | - | 611 | - |" in kernels
    assert "| [6.18 (host)](host/index.html) | ok | 3 | 3 | 0 | 0 | - | - | 12.5 |" in kernels


def test_markdown_shows_each_side_s_evidence_reasons_and_pcaps_of_what_differs() -> None:
    differs = _section(render_kernels_markdown(_two()), "## What differs", "## Every run")
    assert ('### <a id="differs-linger-abort-client-ipv4-loopback" name="differs-linger-abort-'
            'client-ipv4-loopback"></a>**DIFFERS** `linger-abort-client` — ipv4, loopback'
            in differs)
    assert "linger-abort-client's title" in differs
    assert "| verdict | PASS | **FAIL** |" in differs
    assert "| reason |  | linger-abort-client did not pass on 6.1 guest |" in differs
    assert "| claim linger-abort-client-claim | holds | undecided |" in differs
    assert ("| evidence | evidence of holds on host | evidence of undecided on 6.1 guest |"
            in differs)
    assert ("| pcap | [pcap](host/linger-abort-client-ipv4.pcapng) | "
            "[pcap](6.1%20guest/linger-abort-client-ipv4.pcapng) |") in differs
    assert "default-close" not in differs and "## Link fidelity" not in differs


def test_html_highlights_the_row_that_differs_first_with_classed_verdicts() -> None:
    page = render_kernels_html(_two())
    matrix = _section(page, "<h2>Every run</h2>")
    rows = matrix.split("<tr")[2:]  # after the head's row
    assert rows[0].startswith(' class="differs"><td><span class="badge">DIFFERS</span> '
                              '<a href="#differs-linger-abort-client-ipv4-loopback">')
    assert '<td class="v-pass">PASS</td><td class="v-fail">FAIL</td></tr>' in rows[0]
    assert all(row.startswith("><td><code>") for row in rows[1:]) and len(rows) == 3
    assert '<a href="host/index.html">6.18 (host)</a>' in matrix
    assert ".differs{background:" in page and "<script" not in page
    differs = _section(page, "<h2>What differs</h2>", "<h2>Every run</h2>")
    assert ('<h3 id="differs-linger-abort-client-ipv4-loopback" class="differs"><span '
            'class="badge">DIFFERS</span> <code>linger-abort-client</code>') in differs
    assert "<li>evidence of holds on host</li>" in differs
    assert "<li>evidence of undecided on 6.1 guest</li>" in differs
    assert ('<td class="c-holds">holds</td><td class="c-undecided">undecided</td>'
            in differs)
    assert '<a href="6.1%20guest/linger-abort-client-ipv4.pcapng">pcap</a>' in differs
    assert '<a href="host/linger-abort-client-ipv4.pcapng">pcap</a>' in differs


def _with_error() -> dict[str, Any]:
    return build([Column("6.18", True, _results("6.18", HOST)),
                  Column("5.10", error="never began the catalog: <status 1> & no results",
                         console=CONSOLE, facts={"accel": "kvm"})])


def test_an_error_column_shows_its_reason_and_console_escaped_in_html() -> None:
    page = render_kernels_html(_with_error())
    kernels = _section(page, "<h2>The kernels</h2>", "<h2>What differs</h2>")
    assert ('<td>5.10</td><td class="v-error">ERROR</td><td>-</td><td>-</td><td>-</td>'
            "<td>-</td><td>kvm</td>") in kernels
    assert "<h3>5.10: ERROR</h3>" in kernels
    assert "<p>never began the catalog: &lt;status 1&gt; &amp; no results</p>" in kernels
    assert ("[    0.9] &lt;6&gt;virtio_blk virtio0: [vda] 2048 blocks &amp; more\n"
            "[    1.0] Kernel panic - not syncing: &lt;no init found&gt;</pre>") in kernels
    assert "<6>" not in page and "<no init" not in page and "& more" not in page
    parsed = _Text()
    parsed.feed(page)
    assert parsed.pre == ["\n".join(CONSOLE)]


def test_an_error_column_in_markdown_has_its_console_in_a_code_block() -> None:
    md = render_kernels_markdown(_with_error())
    assert "2 kernels, 1 without results; 3 rows, 0 differing." in md
    assert "| 5.10 | **ERROR** | - | - | - | - | kvm |" in md
    assert "### 5.10: ERROR\n\nnever began the catalog: \\<status 1> & no results" in md
    assert "```\n" + "\n".join(CONSOLE) + "\n```" in md
    assert "| scenario | family | topology | 6.18 (host) |" in md  # no column for 5.10


def test_a_table_where_nothing_differs_says_so() -> None:
    table = build([Column("6.18", True, _results("6.18", HOST)),
                   Column("6.12", results=_results("6.12", HOST))])
    md, page = render_kernels_markdown(table), render_kernels_html(table)
    assert f"## What differs\n\n{NOTHING_DIFFERS}\n\n## Every run" in md
    assert f"<h2>What differs</h2>\n<p>{NOTHING_DIFFERS}</p>" in page
    assert "DIFFERS" not in md and 'class="differs"' not in page
    assert "Link fidelity" not in md and "Link fidelity" not in page


def _with_fidelity() -> dict[str, Any]:
    netem = [_run("delay-close", where="6.1/link-kernel"),
             _run("loss-close", where="6.1/link-kernel")]
    user = [_run("delay-close", where="6.1/link-user"),
            _run("loss-close", verdict="fail", where="6.1/link-user",
                 observed=(">S", "<S.", ">.", ">S"))]
    compared = link_fidelity.compare(_results("6.1", netem), _results("6.1", user))
    return build([Column("6.18", True, _results("6.18", HOST)),
                  Column("6.1", results=_results("6.1", HOST), fidelity=compared)])


def test_link_fidelity_appears_only_for_the_column_that_has_it() -> None:
    md = render_kernels_markdown(_with_fidelity())
    fidelity = _section(md, "## Link fidelity", "## Every run")
    assert md.count("## Link fidelity") == 1 and md.index("## What differs") < md.index(
        "## Link fidelity")
    assert fidelity.count("### ") == 1 and "### 6.1\n" in fidelity and "6.18" not in fidelity
    assert "2 runs with the kernel's netem and the user-space link, 1 differ" in fidelity
    lines = fidelity.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("| **DIFFERS**"))
    assert lines[first] == (
        "| **DIFFERS** `loss-close` | ipv4 | PASS | **FAIL** | verdict, wire | `>S <S. >.` "
        "| `>S <S. >. >S` | [kernel's netem](6.1/link-kernel/loss-close-ipv4.pcapng) · "
        "[user-space link](6.1/link-user/loss-close-ipv4.pcapng) |")
    assert lines[first + 1].startswith("| `delay-close` | ipv4 | PASS | PASS | - |  |  | ")


def test_link_fidelity_in_html_highlights_the_run_that_differs() -> None:
    page = render_kernels_html(_with_fidelity())
    fidelity = _section(page, "<h2>Link fidelity</h2>", "<h2>Every run</h2>")
    assert page.count("<h2>Link fidelity</h2>") == 1
    assert "<h3>6.1</h3>" in fidelity and "6.18" not in fidelity
    rows = fidelity.split("<tr")[2:]
    assert rows[0].startswith(' class="differs"><td><span class="badge">DIFFERS</span> '
                              "<code>loss-close</code>")
    assert "<td><code>&gt;S &lt;S. &gt;. &gt;S</code></td>" in rows[0]
    assert '<a href="6.1/link-user/loss-close-ipv4.pcapng">user-space link</a>' in rows[0]
    assert rows[1].startswith("><td><code>delay-close</code>")
