"""The table of what changed between kernels, from hand-made results documents: the rows that
differ first, a claim one kernel cannot decide is a difference with each side's evidence, a
kernel without results is an ERROR column that takes no part in the rows, a run one kernel
lacks is no difference."""

from __future__ import annotations

import copy
from typing import Any

from harness.core.document import Results
from harness.core.kernel_table import Column, build, lines


def _run(scenario: str, verdict: str = "pass", claim: str = "holds", family: str = "ipv4",
         kernel: dict[str, Any] | None = None) -> dict[str, Any]:
    run: dict[str, Any] = {
        "id": scenario, "title": f"{scenario}'s title", "family": family,
        "topology": "loopback", "verdict": verdict,
        "pcap": f"pcaps/{scenario}-{family}.pcapng",
        "claims": [{"id": f"{scenario}-claim", "text": "t", "source": "s", "verdict": claim,
                    "linux": "holds", "evidence": [f"evidence of {claim}"]}],
        "kernel": kernel or {"traced": True}, "transitions": {}, "resets": []}
    if verdict != "pass":
        run["reason"] = f"{scenario} did not pass"
        run["reasons"] = [run["reason"]]
    return run


def _results(kernel: str, runs: list[dict[str, Any]]) -> Results:
    return Results.from_json({"kernel": kernel, "runs": copy.deepcopy(runs)})


HOST = [_run("default-close"), _run("linger-abort-client"), _run("linger-abort-client",
                                                                 family="ipv6")]
NO_REASONS = {"traced": True, "no_reasons": "this kernel's tcp_send_reset tracepoint has no "
                                            "reason field"}
OLD = [_run("default-close"),
       _run("linger-abort-client", claim="undecided", kernel=NO_REASONS),
       _run("linger-abort-client", family="ipv6")]


def test_the_rows_that_differ_come_first_with_each_side_s_answer() -> None:
    table = build([Column("6.18", True, _results("6.18", HOST)),
                   Column("6.1.0-57-amd64", results=_results("6.1.0-57-amd64", OLD))])
    first, *rest = table["rows"]
    assert (first["scenario"], first["family"], first["differs"]) == (
        "linger-abort-client", "ipv4", True)
    assert first["verdicts"] == {"6.18": "pass", "6.1.0-57-amd64": "pass"}
    (claim,) = first["claims"]
    assert claim["answers"] == {"6.18": "holds", "6.1.0-57-amd64": "undecided"}
    assert claim["evidence"] == {"6.18": ["evidence of holds"],
                                 "6.1.0-57-amd64": ["evidence of undecided"]}
    assert first["kernel_events"]["6.1.0-57-amd64"].startswith("no reasons: this kernel's")
    assert first["kernel_events"]["6.18"] == "traced"
    assert [(r["scenario"], r["family"], r["differs"]) for r in rest] == [
        ("default-close", "ipv4", False), ("linger-abort-client", "ipv6", False)]
    assert "evidence" not in rest[0]["claims"][0]
    assert table["summary"] == {"kernels": 2, "errors": 0, "rows": 3, "differing": 1}


def test_a_verdict_that_changed_is_a_difference_with_its_reason() -> None:
    changed = [_run("default-close", verdict="fail"), *OLD[1:]]
    table = build([Column("6.18", True, _results("6.18", HOST)),
                   Column("6.1", results=_results("6.1", changed))])
    row = next(r for r in table["rows"] if r["scenario"] == "default-close")
    assert row["differs"] and row["reasons"] == {"6.1": "default-close did not pass"}
    assert table["rows"][0]["scenario"] == "default-close"


def test_a_kernel_without_results_is_an_error_column_and_no_difference() -> None:
    console = ("[    1.0] Kernel panic - not syncing: VFS: Unable to mount root fs",)
    table = build([Column("6.18", True, _results("6.18", HOST)),
                   Column("6.1", error="never began the catalog", console=console,
                          facts={"accel": "tcg"})])
    kernels = table["kernels"]
    assert kernels[1] == {"label": "6.1", "host": False, "status": "error", "accel": "tcg",
                          "error": "never began the catalog", "console": list(console)}
    assert kernels[0]["status"] == "ok" and kernels[0]["summary"]["passed"] == 3
    assert all(not row["differs"] and list(row["verdicts"]) == ["6.18"]
               for row in table["rows"])
    assert table["summary"]["errors"] == 1
    assert "kernel 6.1: ERROR never began the catalog" in lines(table)


def test_a_run_one_kernel_lacks_is_null_and_no_difference() -> None:
    table = build([Column("6.18", True, _results("6.18", HOST)),
                   Column("6.1", results=_results("6.1", OLD[:1]))])
    row = next(r for r in table["rows"] if r["family"] == "ipv6")
    assert row["verdicts"] == {"6.18": "pass", "6.1": None} and not row["differs"]
    assert row["claims"][0]["answers"] == {"6.18": "holds", "6.1": None}


def test_the_lines_say_each_kernel_and_each_difference() -> None:
    table = build([Column("6.18", True, _results("6.18", HOST)),
                   Column("6.1", results=_results("6.1", OLD))])
    assert lines(table) == [
        "kernel 6.18 (host): 3 runs, 3 passed, 0 failed, 0 errors",
        "kernel 6.1: 3 runs, 3 passed, 0 failed, 0 errors",
        "DIFFERS linger-abort-client ipv4 loopback: 6.18 pass, 6.1 pass",
        "  claim linger-abort-client-claim: 6.18 holds, 6.1 undecided",
        "3 rows, 1 differ between 2 kernels"]
