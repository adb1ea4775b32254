"""What `harness run` and `verify` print for CI: one verdict line per run with its counter,
the story of the runs that did not pass, the closing summary; the command line's help and
version; the summary and schema results.json carries."""

from __future__ import annotations

import argparse
import io
import threading

import pytest

from harness import cli
from harness.core.catalog import load_catalog
from harness.core.document import SCHEMA, Results, ResultsError, RunEntry
from harness.core.result import Phases, RunResult
from harness.core.verdict import Status, Verdict, judge
from harness.core.version import version
from harness.orchestration import checking
from harness.orchestration.checking import CheckedInOrder
from harness.orchestration.progress import Progress, progress_line, summary

SCENARIO = next(sc for sc in load_catalog() if sc.id == "linger-abort-server")


def _finished(status: Status, reasons: tuple[str, ...] = (), family: str = "ipv4"):
    result = RunResult(SCENARIO.id, family, phases=Phases((("exchange", 0.02),
                                                           ("drain", 0.011))))
    verdict = judge(SCENARIO, result)
    return SCENARIO, result, Verdict(status, reasons, verdict.match, verdict.conversation)


def test_a_passing_run_is_one_line_with_its_counter_and_time() -> None:
    line = progress_line(17, 98, _finished(Status.PASS))
    assert line == "[17/98] PASS  linger-abort-server  ipv4  loopback  0.03 s"


def test_a_failing_run_shows_its_story_one_verdict_line_and_its_reasons() -> None:
    out = io.StringIO()
    progress = Progress(2, out=out)
    progress.show(_finished(Status.PASS))
    progress.show(_finished(Status.FAIL, ("server: expected final state TIME-WAIT; the "
                                          "kernel reports CLOSED",), "ipv6"))
    lines = out.getvalue().splitlines()
    assert lines[0] == "[1/2] PASS  linger-abort-server  ipv4  loopback  0.03 s"
    assert lines[1].startswith("== linger-abort-server (ipv6, loopback)")
    verdicts = [line for line in lines if line.startswith("[")]
    assert len(verdicts) == 2  # one verdict line per run, and no other
    assert verdicts[1].startswith("[2/2] FAIL  linger-abort-server  ipv6  loopback  0.03 s")
    assert not any(line.startswith(("PASS", "FAIL", "ERROR")) for line in lines)
    assert lines[lines.index(verdicts[1]) + 1] == (
        "   - server: expected final state TIME-WAIT; the kernel reports CLOSED")


def test_verbose_shows_the_story_of_a_passing_run_too() -> None:
    out = io.StringIO()
    Progress(1, verbose=True, out=out).show(_finished(Status.PASS))
    assert out.getvalue().startswith("== linger-abort-server (ipv4, loopback)")


def test_the_summary_names_every_run_that_did_not_pass_with_its_first_reason() -> None:
    done = [_finished(Status.PASS), _finished(Status.FAIL, ("wire: no", "later")),
            _finished(Status.ERROR, ("the lab could not be built",), "ipv6")]
    assert summary(done, 12.34) == [
        "3 runs in 12.3 s: 1 passed, 1 failed, 1 error", "did not pass:",
        "  FAIL  linger-abort-server  ipv4  loopback: wire: no",
        "  ERROR linger-abort-server  ipv6  loopback: the lab could not be built"]


def test_checked_runs_are_shown_in_plan_order_each_once_with_the_checks_verdict(
        monkeypatch) -> None:
    monkeypatch.setattr(checking, "BATCH", 3)
    batches: list[int] = []

    def check(runs):
        batches.append(len(runs))
        return [(sc, result, Verdict(Status.ERROR, ("checked",))) for sc, result, _ in runs]

    shown: list = []
    ordered = CheckedInOrder(check, shown.append)
    runs = [_finished(Status.PASS) for _ in range(7)]
    for run in runs:
        ordered.add(run)
    done = ordered.close()
    assert [r for _, r, _ in done] == [r for _, r, _ in runs]
    assert shown == done and all(v.status is Status.ERROR for _, _, v in done)
    assert sum(batches) == 7 and max(batches) <= 3


def test_a_run_waiting_alone_is_checked_after_the_linger_time(monkeypatch) -> None:
    monkeypatch.setattr(checking, "LINGER", 0.05)
    seen = threading.Event()
    ordered = CheckedInOrder(lambda runs: list(runs), lambda _run: seen.set())
    ordered.add(_finished(Status.PASS))
    assert seen.wait(5), "a lone run was never checked before the plan ended"
    ordered.close()


def test_a_bug_in_the_check_is_raised_by_close_not_lost() -> None:
    def broken(_runs):
        raise RuntimeError("boom")

    ordered = CheckedInOrder(broken, lambda _run: None)
    ordered.add(_finished(Status.PASS))
    with pytest.raises(RuntimeError, match="boom"):
        ordered.close()


def test_results_json_carries_its_schema_the_harness_version_and_a_summary() -> None:
    runs = (RunEntry("a", "ipv4", verdict="pass"),
            RunEntry("b", "ipv6", "veth", verdict="fail", reason="x; y", reasons=("x", "y")))
    raw = Results("6.18", runs, harness=version()).to_json()
    assert raw["schema"] == SCHEMA and raw["harness"] == version()
    assert raw["summary"] == {"runs": 2, "passed": 1, "failed": 1, "errors": 0, "not_passed": [
        {"id": "b", "family": "ipv6", "topology": "veth", "verdict": "fail", "reason": "x"}]}
    back = Results.from_json(raw)
    assert back.runs[1].reasons == ("x", "y") and back.harness == version()


def test_a_results_file_of_a_newer_schema_is_refused_in_one_line() -> None:
    with pytest.raises(ResultsError, match="schema 99 is newer than this harness reads"):
        Results.from_json({"schema": 99, "runs": []})


def _actions(parser: argparse.ArgumentParser, path: str = "harness"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield path, action


def test_every_option_and_argument_of_every_command_has_help_text() -> None:
    missing = [f"{path} {action.option_strings or action.dest}"
               for path, action in _actions(cli._parser()) if not action.help]
    assert not missing, f"no help text: {missing}"


def test_version_prints_the_package_version(capsys) -> None:
    with pytest.raises(SystemExit) as ended:
        cli.main(["--version"])
    assert ended.value.code == 0
    assert capsys.readouterr().out == f"tcp-close-harness {version()} (Python " \
        f"{__import__('platform').python_version()})\n"


def test_cross_check_batches_grow_only_where_tshark_is_slow() -> None:
    from harness.orchestration.checking import BATCH, LINGER, due

    assert due(0.0) == due(0.4) == due(1.0) == (BATCH, LINGER)  # the host: as before
    assert due(8.5) == (BATCH * 9, 85.0)  # a guest without KVM: few, large batches
