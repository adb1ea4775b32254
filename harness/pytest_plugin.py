"""The pytest plugin: the `capture` marker and the `lab` fixture (a Lab for one test).

Capture tests need root (namespaces and packet sockets). Without it they are skipped with
one line saying what is missing, unless HARNESS_REQUIRE_CAPTURE=1, which turns that skip
into a failure so that a CI job can never pass by skipping.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE_ENV = "HARNESS_REQUIRE_CAPTURE"
_LAB_KEY = pytest.StashKey["object"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """--pcap-dir: where capture tests write their pcapng files."""
    parser.addoption("--pcap-dir", default=None,
                     help="folder for the pcapng of each capture test (default: pcaps/tests)")


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
    the wire with `lab.expect(pattern)`. Parametrize indirectly with "ipv6" for IPv6.
    """
    from harness.lab.lab import Lab

    family = getattr(request, "param", "ipv4")
    with Lab(family=family, scenario=request.node.name, pcap_path=_pcap_path(request)) as made:
        request.node.stash[_LAB_KEY] = made
        yield made


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A harness UserError (a bad pattern, say) is reported as its message at the test's own
    line, without the harness's frames; a failing test that used `lab` gets the wire, the
    calls and the pcap path."""
    report = yield
    if call.excinfo is not None and report.failed:
        from harness.core.errors import UserError

        if isinstance(call.excinfo.value, UserError):
            report.longrepr = _user_error(item, call.excinfo)
    made = item.stash.get(_LAB_KEY, None)
    if made is not None and report.when == "call" and report.failed:
        report.sections.append(("harness capture", made.story()))
    return report


def _user_error(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """`tests/test_x.py:12: harness: bad pattern: ...`, at the innermost frame of the test's
    own file."""
    exc = excinfo.value
    here = next((entry for entry in reversed(excinfo.traceback)
                 if Path(str(entry.path)) == Path(str(item.path))), None)
    where = f"{here.path}:{here.lineno + 1}: " if here is not None else ""
    return f"{where}harness: {getattr(exc, 'what', '')}{exc}"
