"""REPORT.md, rendered from results.json runs as the harness writes them (no capture)."""

from __future__ import annotations

import re
from typing import Any

from harness.core.document import RunEntry
from harness.report import markdown


# The runs below are written as results.json holds them, and read as `harness report` reads
# them.
def claims_table(runs: list[dict[str, Any]], base: str) -> list[str]:
    return markdown.claims_table([RunEntry.from_json(run) for run in runs], base)


def render_report(runs: list[dict[str, Any]], kernel: str, base: str = ".") -> str:
    return markdown.render_report([RunEntry.from_json(run) for run in runs], kernel, base)


KERNEL = "6.8.0-31-generic"


def _claim(claim_id: str = "returns-at-once", verdict: str = "holds", *,
           linux: str = "holds", text: str = "close() returns at once.",
           evidence: tuple[str, ...] = ("conn.close() = 0 (0.000 s)",)) -> dict[str, Any]:
    return {"id": claim_id, "text": text, "source": "socket(7) SO_LINGER", "verdict": verdict,
            "linux": linux, "evidence": list(evidence)}


def _run(scenario: str = "default-close", family: str = "ipv4", verdict: str = "pass",
         claims: tuple[dict[str, Any], ...] = (), **changes: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "id": scenario, "title": f"The {scenario} title",
        "statement": "With SO_LINGER off,\n  close() returns at once.",
        "source": "socket(7)", "family": family, "topology": "loopback", "verdict": verdict,
        "pattern": ">S <S. >. <F. >. >F. <.",
        "observed": [">S", "<S.", ">.", "<F.", ">.", ">F.", "<."],
        "pcap": f"pcaps/run/{scenario}-{family}.pcapng",
        "calls": [{"peer": "server", "sock": "conn", "call": "close", "args": {}, "return": 0,
                   "errno": None, "elapsed": 0.0001, "blocked": False}],
        "states": {"client": {"state": "CLOSED"}, "server": {"state": "TIME-WAIT"}},
        "capture": {"frames": 7, "kernel_packets": 7},
        "claims": list(claims),
        "story": [f"== {scenario} ({family}, loopback): story", f"{verdict.upper()} {scenario}"],
    }
    if verdict != "pass":
        run["reason"] = f"wire: {scenario} went wrong on {family}"
    run.update(changes)
    return run


def _rows(runs: list[dict[str, Any]], base: str = ".") -> list[str]:
    """The claims table's body rows (without its header and separator)."""
    return claims_table(runs, base)[2:]


def _cells(row: str) -> list[str]:
    """A table row split on its unescaped pipes, outer empties dropped."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]


def test_the_heading_names_the_kernel_release() -> None:
    report = render_report([_run()], KERNEL)
    assert report.splitlines()[0] == f"# What closing a TCP connection does on Linux {KERNEL}"


def test_the_summary_counts_passes_failures_and_errors() -> None:
    runs = [_run(), _run(family="ipv6", verdict="fail"), _run("killed-peer", verdict="fail"),
            _run("reset-before-accept", verdict="error")]
    report = render_report(runs, KERNEL)
    assert "4 runs: 1 passed, 2 failed, 1 errors." in report.splitlines()


def test_the_report_ends_with_one_newline() -> None:
    report = render_report([_run()], KERNEL)
    assert report.endswith("```\n") and not report.endswith("\n\n")


def test_the_claims_table_has_a_header_and_one_row_per_claim() -> None:
    runs = [_run(claims=(_claim("a"), _claim("b")))]
    table = claims_table(runs, ".")
    assert table[:2] == ["| claim | source | on this kernel | evidence | pcap |",
                         "| --- | --- | --- | --- | --- |"]
    assert len(table) == 4


def test_claims_that_do_not_hold_come_before_those_that_hold() -> None:
    runs = [_run(claims=(_claim("first-holds", text="It holds."),)),
            _run("killed-peer", claims=(_claim("later-fails", "does not hold",
                                               linux="does not hold", text="It fails."),))]
    rows = _rows(runs)
    assert rows[0].startswith("| It fails. (`killed-peer`)")
    assert rows[1].startswith("| It holds. (`default-close`)")


def test_undecided_claims_sit_between_those_that_fail_and_those_that_hold() -> None:
    runs = [_run(claims=(_claim("h", text="Holds."), _claim("u", "undecided", text="Open."),
                         _claim("n", "does not hold", linux="does not hold", text="No.")))]
    assert [_cells(row)[0].split(" (")[0] for row in _rows(runs)] == ["No.", "Open.", "Holds."]


def test_a_claim_decided_alike_on_both_families_shows_one_verdict() -> None:
    runs = [_run(claims=(_claim(),)), _run(family="ipv6", claims=(_claim(),))]
    rows = _rows(runs)
    assert len(rows) == 1
    assert _cells(rows[0])[2] == "holds"


def test_a_claim_decided_differently_per_family_shows_both() -> None:
    runs = [_run(claims=(_claim(),)),
            _run(family="ipv6", claims=(_claim(verdict="does not hold"),))]
    verdict = _cells(_rows(runs)[0])[2]
    assert verdict.startswith("ipv4: holds; ipv6: **does not hold**")


def test_a_claim_failing_on_one_family_is_listed_with_those_that_do_not_hold() -> None:
    runs = [_run(claims=(_claim("a", text="Mixed."),
                         _claim("b", text="Steady."))),
            _run(family="ipv6", claims=(_claim("a", "does not hold", text="Mixed."),
                                        _claim("b", text="Steady.")))]
    assert _rows(runs)[0].startswith("| Mixed.")


def test_an_outcome_other_than_linux_is_flagged_unexpected() -> None:
    runs = [_run(claims=(_claim(verdict="does not hold", linux="holds"),))]
    assert _cells(_rows(runs)[0])[2] == ("**does not hold** (UNEXPECTED: Linux is expected "
                                         "to show it holds)")


def test_an_outcome_matching_linux_is_not_flagged() -> None:
    runs = [_run(claims=(_claim(verdict="does not hold", linux="does not hold"),))]
    assert "UNEXPECTED" not in _rows(runs)[0]


def test_an_undecided_outcome_is_not_flagged_unexpected() -> None:
    runs = [_run(verdict="error", claims=(_claim(verdict="undecided"),))]
    assert _cells(_rows(runs)[0])[2] == "undecided"


def test_the_claims_table_links_each_familys_pcap_relative_to_base() -> None:
    runs = [_run(claims=(_claim(),)), _run(family="ipv6", claims=(_claim(),))]
    assert _cells(_rows(runs, base="reports")[0])[4] == (
        "[ipv4](../pcaps/run/default-close-ipv4.pcapng) · "
        "[ipv6](../pcaps/run/default-close-ipv6.pcapng)")


def test_a_run_without_a_pcap_shows_its_family_unlinked() -> None:
    runs = [_run(claims=(_claim(),), pcap=None)]
    assert _cells(_rows(runs)[0])[4] == "ipv4"


def test_the_runs_subsection_links_the_pcap_relative_to_base() -> None:
    report = render_report([_run()], KERNEL, base="out/report")
    assert ("Observed: `>S <S. >. <F. >. >F. <.` "
            "([pcap](../../pcaps/run/default-close-ipv4.pcapng))") in report.splitlines()


def test_a_pipe_in_a_claims_text_is_escaped_so_the_row_keeps_five_cells() -> None:
    claim = _claim(text="shutdown(SHUT_RD | SHUT_WR) is close()",
                   evidence=("a | b", "c"))
    row = _rows([_run(claims=(claim,))])[0]
    assert "shutdown(SHUT_RD \\| SHUT_WR)" in row
    assert len(_cells(row)) == 5


def test_the_evidence_cell_joins_the_first_runs_evidence_lines_after_its_run() -> None:
    claim = _claim(evidence=("conn.close() = 0 (0.000 s)", "no RST among 7 packets"))
    row = _rows([_run(claims=(claim,))])[0]
    assert _cells(row)[3] == "*ipv4, loopback*: conn.close() = 0 (0.000 s); no RST among 7 packets"


def test_each_scenario_gets_one_section_naming_every_runs_verdict() -> None:
    runs = [_run(), _run(family="ipv6", verdict="fail"), _run("killed-peer")]
    lines = render_report(runs, KERNEL).splitlines()
    sections = [line for line in lines if line.startswith("### ")]
    assert sections == ["### `default-close` — PASS ipv4, FAIL ipv6",
                        "### `killed-peer` — PASS ipv4"]


def test_a_section_quotes_the_statement_on_one_line_with_source_and_pattern() -> None:
    lines = render_report([_run()], KERNEL).splitlines()
    assert "> With SO_LINGER off, close() returns at once." in lines
    assert "Source: socket(7)" in lines
    assert "Pattern: `>S <S. >. <F. >. >F. <.`" in lines


def test_the_first_runs_story_appears_in_a_fenced_block() -> None:
    report = render_report([_run(), _run(family="ipv6")], KERNEL)
    assert "```\n== default-close (ipv4, loopback): story\nPASS default-close\n```" in report


def test_a_passing_second_runs_story_is_left_out() -> None:
    report = render_report([_run(), _run(family="ipv6")], KERNEL)
    assert "(ipv6, loopback): story" not in report


def test_a_failing_second_runs_reason_and_story_appear() -> None:
    report = render_report([_run(), _run(family="ipv6", verdict="fail")], KERNEL)
    assert "**FAIL**:\n\n- wire: default-close went wrong on ipv6\n" in report
    assert "```\n== default-close (ipv6, loopback): story\nFAIL default-close\n```" in report


def test_an_errored_runs_reason_is_labelled_error() -> None:
    report = render_report([_run(verdict="error")], KERNEL)
    assert "**ERROR**:\n\n- wire: default-close went wrong on ipv4\n" in report


def test_the_claims_section_comes_before_the_scenarios() -> None:
    lines = render_report([_run(claims=(_claim(),))], KERNEL).splitlines()
    claims, scenarios = lines.index("## Claims"), lines.index("## Scenarios")
    assert claims < scenarios
    assert lines[claims + 2].startswith("Each claim below is a statement from the literature")
    assert lines[claims + 4].startswith("| claim | source |")


def test_runs_on_another_topology_are_labelled_with_it() -> None:
    from harness.report.markdown import run_label

    def label(raw: dict[str, Any]) -> str:
        return run_label(RunEntry.from_json({"id": "x", **raw}))

    assert label({"family": "ipv4", "topology": "loopback"}) == "ipv4"
    assert label({"family": "ipv6", "topology": "veth"}) == "ipv6 veth"
    assert label({"family": "ipv6"}) == "ipv6"


# ---------------------------------------------------------------- what did not pass, first


def _anchor_lines(report: str, target: str) -> list[str]:
    """The lines that carry the anchor `target` (an explicit `<a id=... name=...>`)."""
    return [line for line in report.splitlines()
            if f'<a id="{target}" name="{target}"></a>' in line]


def test_runs_that_did_not_pass_open_the_report_each_linked_to_its_runs_subsection() -> None:
    runs = [_run(), _run(family="ipv6", verdict="fail"),
            _run("killed-peer", verdict="error", topology="veth")]
    report = render_report(runs, KERNEL)
    lines = report.splitlines()
    top = lines.index("## Did not pass")
    assert top < lines.index("## Claims") < lines.index("## Scenarios")
    assert lines[top + 1:top + 5] == [
        "",
        "- **FAIL** [`default-close`, ipv6, loopback](#run-default-close-ipv6-loopback): "
        "wire: default-close went wrong on ipv6",
        "- **ERROR** [`killed-peer`, ipv4, veth](#run-killed-peer-ipv4-veth): "
        "wire: killed-peer went wrong on ipv4",
        ""]
    targets = re.findall(r"\]\(#([^)]+)\)", "\n".join(lines[top:top + 4]))
    assert targets == ["run-default-close-ipv6-loopback", "run-killed-peer-ipv4-veth"]
    for target in targets:
        (heading,) = _anchor_lines(report, target)
        assert heading.startswith("#### ")
        assert lines.index(heading) > lines.index("## Scenarios")
    assert _anchor_lines(report, "run-default-close-ipv6-loopback") == [
        '#### <a id="run-default-close-ipv6-loopback" name="run-default-close-ipv6-loopback">'
        "</a>ipv6, loopback: FAIL"]


def test_every_run_has_an_anchored_heading_of_its_own() -> None:
    runs = [_run(), _run(family="ipv6"), _run("killed-peer")]
    headings = [line for line in render_report(runs, KERNEL).splitlines()
                if line.startswith("#### ")]
    assert [re.search(r'id="([^"]+)"', h)[1] for h in headings] == [
        "run-default-close-ipv4-loopback", "run-default-close-ipv6-loopback",
        "run-killed-peer-ipv4-loopback"]
    assert [h.split("</a>")[1] for h in headings] == [
        "ipv4, loopback: PASS", "ipv6, loopback: PASS", "ipv4, loopback: PASS"]


def test_a_run_made_twice_gets_a_second_anchor() -> None:
    report = render_report([_run(verdict="fail"), _run(verdict="fail")], KERNEL)
    assert "(#run-default-close-ipv4-loopback)" in report
    assert "(#run-default-close-ipv4-loopback-2)" in report
    assert len(_anchor_lines(report, "run-default-close-ipv4-loopback-2")) == 1


def test_when_every_run_passed_the_report_says_so_in_one_line() -> None:
    lines = render_report([_run(), _run(family="ipv6")], KERNEL).splitlines()
    top = lines.index("## Did not pass")
    assert lines[top + 1:top + 4] == ["", "All 2 runs passed.", ""]
    assert render_report([_run()], KERNEL).splitlines()[top + 2] == "The run passed."


def test_the_list_gives_only_the_first_reason_and_the_run_all_of_them_as_a_list() -> None:
    run = _run(verdict="fail", reasons=["conn.close(): expected 0; got -1 EAGAIN",
                                        "server: expected final state TIME-WAIT; the kernel "
                                        "reports CLOSED"])
    report = render_report([run], KERNEL)
    assert ("- **FAIL** [`default-close`, ipv4, loopback](#run-default-close-ipv4-loopback): "
            "conn.close(): expected 0; got -1 EAGAIN") in report.splitlines()
    assert ("**FAIL**:\n\n- conn.close(): expected 0; got -1 EAGAIN\n"
            "- server: expected final state TIME-WAIT; the kernel reports CLOSED\n") in report
    assert "the kernel reports CLOSED" not in report.split("## Claims")[0]


def test_a_reason_that_reads_like_a_tag_is_escaped_and_tokens_are_left_alone() -> None:
    run = _run(verdict="fail", reasons=["wire: the pattern expected <R or >. there",
                                        "wire: packet 4 <F. does not fit; <R at the end"])
    lines = render_report([run], KERNEL).splitlines()
    assert "- wire: the pattern expected \\<R or >. there" in lines
    assert "- wire: packet 4 <F. does not fit; \\<R at the end" in lines
    assert lines[lines.index("## Did not pass") + 2].endswith(
        ": wire: the pattern expected \\<R or >. there")


def test_a_run_says_its_final_states_with_their_queues() -> None:
    states = {"client": {"state": "ESTABLISHED", "local": "127.0.0.1:40000",
                         "remote": "127.0.0.1:5000", "recv_q": 4096},
              "server": {"state": "FIN-WAIT-1", "local": "127.0.0.1:5000",
                         "remote": "127.0.0.1:40000", "send_q": 2985985, "orphan": True}}
    lines = render_report([_run(states=states)], KERNEL).splitlines()
    assert ("Final states: client ESTABLISHED (recv_q 4096), server FIN-WAIT-1 "
            "(send_q 2985985, orphan)") in lines


# ---------------------------------------------------------------- evidence and its runs


def test_evidence_decided_alike_is_the_first_runs_labelled_with_it() -> None:
    runs = [_run(claims=(_claim(evidence=("a = 0 (0.001 s)",)),)),
            _run(family="ipv6", claims=(_claim(evidence=("a = 0 (0.002 s)",)),))]
    assert _cells(_rows(runs)[0])[3] == "*ipv4, loopback*: a = 0 (0.001 s)"


def test_runs_with_the_same_evidence_share_its_label() -> None:
    runs = [_run(claims=(_claim(),)), _run(family="ipv6", claims=(_claim(),))]
    assert _cells(_rows(runs)[0])[3] == ("*ipv4, loopback / ipv6, loopback*: "
                                         "conn.close() = 0 (0.000 s)")


def test_evidence_decided_differently_names_each_run_on_a_line_of_its_own() -> None:
    runs = [_run(claims=(_claim(evidence=("no RST among 7 packets",)),)),
            _run(family="ipv6", topology="veth",
                 claims=(_claim(verdict="does not hold", evidence=("RST: <R. (packet 6)",)),))]
    assert _cells(_rows(runs)[0])[3] == ("*ipv4, loopback*: no RST among 7 packets<br>"
                                         "*ipv6, veth*: RST: <R. (packet 6)")
