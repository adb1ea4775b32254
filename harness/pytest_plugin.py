"""The pytest plugin: the `capture` marker and the `lab` fixture (a Lab for one test).

`@pytest.mark.capture(family=..., topology=..., link={...}, port=...)` tells the fixture how
to make the lab (harness.orchestration.testlab reads it); each lab's pcap is written when its
test ends with the test's story in its comments (`--harness-keep=failed` keeps only those of
failed tests). Capture tests need root (namespaces and packet sockets). Without it they are
skipped with one line saying what is missing, unless HARNESS_REQUIRE_CAPTURE=1, which turns
that skip into a failure so that a CI job can never pass by skipping.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE_ENV = "HARNESS_REQUIRE_CAPTURE"
_LAB_KEY = pytest.StashKey["object"]()
_OUTCOME_KEY = pytest.StashKey["object"]()
KEEP_CHOICES = ("all", "failed")


def pytest_addoption(parser: pytest.Parser) -> None:
    """--pcap-dir: where capture tests write their pcapng files; --harness-keep: which."""
    parser.addoption("--pcap-dir", default=None,
                     help="folder for the pcapng of each capture test (default: pcaps/tests)")
    parser.addoption("--harness-keep", choices=KEEP_CHOICES, default="all",
                     help="whose pcapng the lab fixture keeps: all tests' (default), or only "
                          "those of tests that failed (a passing test's is deleted)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the marker."""
    from harness.lab.userns import enter_if_unprivileged  # first: xdist workers are born inside
    enter_if_unprivileged()  # without root, a user namespace; capture_problem() says if not
    config.addinivalue_line(
        "markers", "capture: runs real peers in a network namespace and captures the wire "
                   "(needs root; HARNESS_REQUIRE_CAPTURE=1 fails instead of skipping)")


def capture_required() -> bool:
    """True when missing privileges must fail capture tests rather than skip them."""
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def refuse(reason: str) -> None:
    """Skip the current test with reason, or fail it when capture is required."""
    if capture_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1, so this fails instead of skipping)",
                    pytrace=False)
    pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a capture test: can this process make namespaces and capture?"""
    if item.get_closest_marker("capture") is None:
        return
    from harness.lab.privileges import capture_problem

    problem = capture_problem()
    if problem:
        refuse(problem)


def _pcap_path(request: pytest.FixtureRequest) -> Path:
    folder = request.config.getoption("--pcap-dir") or Path(request.config.rootpath, "pcaps",
                                                              "tests")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
    return Path(folder, f"{name}.pcapng")


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[object]:
    """A client and a server peer in a fresh namespace, every packet between them captured.

    The test drives the peers (`lab.server.listen()`, `lab.client.connect()`, ...) and states
    the wire with `lab.expect(pattern)`. `@pytest.mark.capture(topology="veth", link={"netem":
    "delay 20ms"}, family="ipv6")` makes another lab; so does an indirect parameter ("ipv6",
    or a dict of the same keywords). Its pcap is written, annotated, when the test ends.
    """
    from harness.orchestration import testlab

    marks = [(mark.args, mark.kwargs) for mark in request.node.iter_markers("capture")]
    settings = testlab.lab_settings(marks, getattr(request, "param", None))
    with settings.make(request.node.name, _pcap_path(request)) as made:
        request.node.stash[_LAB_KEY] = made
        yield made
        outcome = request.node.stash.get(_OUTCOME_KEY, testlab.Outcome("passed"))
        testlab.finish(made, request.node.nodeid, outcome,
                       keep_all=request.config.getoption("--harness-keep") == "all")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A harness UserError (a bad pattern, say) is reported as its message at the test's own
    line, without the harness's frames; a failing test that used `lab` gets its calls and
    packets on one clock and the pcap path; the outcome is kept for the lab's pcap."""
    report = yield
    if call.excinfo is not None and report.failed:
        from harness.core.errors import UserError

        if isinstance(call.excinfo.value, UserError):
            report.longrepr = _user_error(item, call.excinfo)
    if report.when == "call" or (report.when == "setup" and not report.passed):
        item.stash[_OUTCOME_KEY] = _outcome(report, call)
    made = item.stash.get(_LAB_KEY, None)
    if made is not None and report.when == "call" and report.failed:
        from harness.orchestration.testlab import failure_story

        report.sections.append(("harness capture", failure_story(made)))
    return report


def _outcome(report: pytest.TestReport, call: pytest.CallInfo) -> object:
    """The test's outcome and the first line of why it did not pass, for the lab's pcap."""
    from harness.orchestration.testlab import Outcome, first_line

    if report.passed:
        return Outcome("passed")
    status = "error" if report.when == "setup" and report.failed else report.outcome
    excinfo = call.excinfo
    reason = ""
    if excinfo is not None:
        reason = first_line(str(report.longrepr) if isinstance(report.longrepr, str)
                            else excinfo.exconly())
    return Outcome(status, reason)


def _user_error(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """`tests/test_x.py:12: harness: bad pattern: ...`, at the innermost frame of the test's
    own file (at the test's definition when the error came from its fixtures)."""
    exc = excinfo.value
    here = next((entry for entry in reversed(excinfo.traceback)
                 if Path(str(entry.path)) == Path(str(item.path))), None)
    if here is not None:
        where = f"{here.path}:{here.lineno + 1}: "
    else:
        path, line, _ = item.reportinfo()
        where = f"{path}:{line + 1}: " if line is not None else f"{path}: "
    return f"{where}harness: {getattr(exc, 'what', '')}{exc}"
