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


def test_the_scenario_section_links_the_pcap_relative_to_base() -> None:
    report = render_report([_run()], KERNEL, base="out/report")
    assert ("ipv4, loopback ([pcap](../../pcaps/run/default-close-ipv4.pcapng)): "
            "`>S <S. >. <F. >. >F. <.`") in report.splitlines()


def test_a_pipe_in_a_claims_text_is_escaped_so_the_row_keeps_five_cells() -> None:
    claim = _claim(text="shutdown(SHUT_RD | SHUT_WR) is close()",
                   evidence=("a | b", "c"))
    row = _rows([_run(claims=(claim,))])[0]
    assert "shutdown(SHUT_RD \\| SHUT_WR)" in row
    assert len(_cells(row)) == 5


def test_the_evidence_cell_joins_the_first_runs_evidence_lines() -> None:
    claim = _claim(evidence=("conn.close() = 0 (0.000 s)", "no RST among 7 packets"))
    row = _rows([_run(claims=(claim,))])[0]
    assert _cells(row)[3] == "conn.close() = 0 (0.000 s); no RST among 7 packets"


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
    assert "**FAIL**: wire: default-close went wrong on ipv6" in report.splitlines()
    assert "```\n== default-close (ipv6, loopback): story\nFAIL default-close\n```" in report


def test_an_errored_runs_reason_is_labelled_error() -> None:
    report = render_report([_run(verdict="error")], KERNEL)
    assert "**ERROR**: wire: default-close went wrong on ipv4" in report.splitlines()


def test_the_claims_section_comes_before_the_scenarios() -> None:
    lines = render_report([_run(claims=(_claim(),))], KERNEL).splitlines()
    claims, scenarios = lines.index("## Claims"), lines.index("## Scenarios")
    assert claims < scenarios
    assert lines[claims + 2].startswith("| claim | source |")


def test_runs_on_another_topology_are_labelled_with_it() -> None:
    from harness.report.markdown import run_label

    def label(raw: dict[str, Any]) -> str:
        return run_label(RunEntry.from_json({"id": "x", **raw}))

    assert label({"family": "ipv4", "topology": "loopback"}) == "ipv4"
    assert label({"family": "ipv6", "topology": "veth"}) == "ipv6 veth"
    assert label({"family": "ipv6"}) == "ipv6"
