"""A call that needs a kernel feature (destroy: sock_diag SOCK_DESTROY) is refused before
anything runs, in one line, where the kernel lacks it; whether it does is found by trying,
once. Here the probe is made to answer "no", as a kernel without CONFIG_INET_DIAG_DESTROY
does."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.core.call_spec import Needs
from harness.lab import features, sockdiag
from harness.lab.peer import SocketHandle

DESTROYING = """
id = "destroying"
title = "t"
statement = "s"
source = "socket(7)"
pattern = ">S <S. >. >R."
steps = [
  { on = "server", call = "listen" },
  { on = "client", call = "connect" },
  { on = "client", call = "destroy" },
]
states = { client = "CLOSED" }
"""


@pytest.fixture
def no_destroy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel that answers SOCK_DESTROY with EOPNOTSUPP; and no run may start."""
    monkeypatch.setattr(features, "PROBES", {Needs.SOCK_DESTROY: lambda: False})
    monkeypatch.setattr("harness.lab.privileges.capture_problem",
                        lambda: pytest.fail("a run was about to start"))


@pytest.mark.usefixtures("no_destroy")
def test_a_scenario_that_destroys_is_refused_before_it_runs(tmp_path: Path, capsys) -> None:
    path = tmp_path / "destroying.toml"
    path.write_text(DESTROYING)
    code = main(["run", str(path), "--pcap-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"harness: {path} step 3 (client.destroy()): destroy needs sock_diag "
                          "SOCK_DESTROY (CONFIG_INET_DIAG_DESTROY), which this kernel (")
    assert "lacks (trying it was refused with EOPNOTSUPP)" in err


@pytest.mark.usefixtures("no_destroy")
def test_a_handle_refuses_destroy_where_the_kernel_lacks_it() -> None:
    handle = SocketHandle.__new__(SocketHandle)  # refused before anything reaches a peer
    with pytest.raises(features.KernelLacks, match=r"^destroy needs sock_diag SOCK_DESTROY"):
        handle.destroy()


def test_scenarios_without_such_a_call_never_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.orchestration.plan import make_plan

    monkeypatch.setattr(features, "PROBES", {Needs.SOCK_DESTROY: lambda: pytest.fail("probed")})
    assert make_plan(["default-close"], None, "both", "loopback", None, 60.0)


def test_the_probe_tries_once_and_remembers(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []

    def ask(request: bytes) -> int:
        asked.append(request)
        return 95  # EOPNOTSUPP: what a kernel without CONFIG_INET_DIAG_DESTROY answers

    sockdiag.destroy_supported.cache_clear()
    monkeypatch.setattr(sockdiag, "_ask", ask)
    try:
        assert not sockdiag.destroy_supported() and not sockdiag.destroy_supported()
        assert len(asked) == 1 and int.from_bytes(asked[0][4:6], "little") == 21  # SOCK_DESTROY
    finally:
        sockdiag.destroy_supported.cache_clear()
