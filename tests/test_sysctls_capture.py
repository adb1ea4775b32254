"""Per-run sysctls for real: set in every namespace of a run before the peers start, read
back there, refused before anything runs when this kernel cannot set them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.lab.lab import Lab
from harness.lab.sysctl import sysctl_problem

pytestmark = pytest.mark.capture

ROOT = Path(__file__).resolve().parent.parent
FIN_TIMEOUT = "/proc/sys/net/ipv4/tcp_fin_timeout"


def _read(lab: Lab, path: str) -> list[str]:
    return [ns.run(lambda: Path(path).read_text().strip()) for ns in lab.topology.namespaces()]


@pytest.mark.parametrize("topology", ["loopback", "veth"])
def test_every_namespace_of_a_run_has_its_sysctls(topology: str) -> None:
    host = Path(FIN_TIMEOUT).read_text().strip()
    wanted = "7" if host != "7" else "8"
    with Lab(topology=topology, sysctls={"net.ipv4.tcp_fin_timeout": int(wanted)}) as lab:
        seen = _read(lab, FIN_TIMEOUT)
    assert seen == [wanted] * (1 if topology == "loopback" else 2)
    assert Path(FIN_TIMEOUT).read_text().strip() == host  # the machine's own is untouched


@pytest.mark.capture(sysctls={"net.ipv4.tcp_rfc1337": 1})
def test_the_fixture_takes_sysctls_from_its_marker(lab: Lab) -> None:
    assert _read(lab, "/proc/sys/net/ipv4/tcp_rfc1337") == ["1"]


@pytest.mark.parametrize(("sysctls", "told"), [
    ({"net.ipv4.tcp_no_such_thing": 1}, "this kernel has no per-namespace setting "
                                        "net.ipv4.tcp_no_such_thing"),
    ({"net.core.rmem_max": 1 << 20}, "net.core.rmem_max is read-only in a network namespace"),
    ({"net.ipv4.tcp_fin_timeout": "soon"}, "the kernel refuses net.ipv4.tcp_fin_timeout"),
])
def test_what_the_kernel_cannot_set_is_named(sysctls: dict, told: str) -> None:
    assert told in (sysctl_problem(sysctls) or "")


def test_a_scenario_whose_sysctl_cannot_be_set_is_refused_before_it_runs(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text('''id = "mine"
title = "t"
statement = "s"
source = "tcp(7)"
pattern = ">S <S. >."
steps = [{ on = "server", call = "listen" }, { on = "client", call = "connect" }]
states = { client = "ESTABLISHED" }
sysctls = { "net.ipv4.tcp_fin_timeuot" = 1 }
''')
    done = subprocess.run([sys.executable, "-m", "harness", "run", str(mine), "--pcap-dir",
                           str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"harness: {mine}: sysctls: this kernel has no per-namespace setting "
        "net.ipv4.tcp_fin_timeuot (it is missing, or kept for the whole machine, which a run "
        "does not change)"]
    assert not list(tmp_path.glob("*.pcapng"))  # nothing ran
