"""A run leaves the namespace it was started from as it found it.

Every lab lives in anonymous namespaces of its own (harness/netns.py, harness/topology.py);
nothing it does may show in the namespace `harness run` was started from: no interface,
address, route, permanent neighbour, sysctl value, named namespace or mount added, removed
or changed, and no process of the run still alive once the command has returned.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.pytest_plugin import refuse

pytestmark = pytest.mark.capture

ROOT = Path(__file__).resolve().parent.parent
SYSCTL_TREES = ("/proc/sys/net/ipv4", "/proc/sys/net/ipv6/conf/all", "/proc/sys/net/core")
# Read every file in those trees. Two snapshots with nothing in between agree on every
# readable one (test_a_snapshot_is_stable_with_nothing_in_between keeps that true), so none
# is excluded for changing by itself; the files that cannot be read are skipped: write-only
# ones (ipv4/route/flush) and those that fail until set (ipv6/conf/all/stable_secret: EIO).
VOLATILE_SYSCTLS: frozenset[str] = frozenset()
# What a run's processes run as, besides the harness itself: peers started afresh, the
# user-space link, the user's own programs (probe).
OURS = ("harness.lab.child_peer_agent", "harness.lab.child_link_agent",
        "harness.lab.child_launcher")
# Kept out of the comparison because they change with time or with unrelated traffic:
# address and route lifetimes count down, and cached IPv6 routes (PMTU exceptions) come and
# go with whatever the host talks to.
_DRIFTING_KEYS = ("valid_life_time", "preferred_life_time", "expires")

Snapshot = dict[str, dict[str, object]]


def _ip(*args: str) -> list[dict]:
    """`ip -j ARGS` parsed; [] when ip prints nothing (an empty list)."""
    done = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=10,
                          check=True)
    return json.loads(done.stdout) if done.stdout.strip() else []


def _steady(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in _DRIFTING_KEYS}


def _links() -> dict[str, object]:
    return {link["ifname"]: {"ifindex": link["ifindex"], "flags": sorted(link["flags"]),
                             "mtu": link.get("mtu")} for link in _ip("link", "show")}


def _addresses() -> dict[str, object]:
    return {f"{link['ifname']} {a['local']}/{a['prefixlen']}": _steady(a)
            for link in _ip("addr", "show") for a in link.get("addr_info", [])}


def _routes(family: str) -> dict[str, object]:
    found = [_steady(r) for r in _ip(family, "route", "show", "table", "all")
             if "cache" not in r]
    return {json.dumps(r, sort_keys=True): True for r in found}


def _permanent_neighbours() -> dict[str, object]:
    """Static entries only: the others come and go with the host's own traffic."""
    return {f"{n['dst']} dev {n['dev']}": n.get("lladdr") for n in _ip("neigh", "show")
            if {"PERMANENT", "NOARP"} & set(n.get("state", []))}


def _sysctls() -> dict[str, object]:
    values: dict[str, object] = {}
    for top in SYSCTL_TREES:
        for folder, _dirs, files in os.walk(top):
            for name in files:
                path = os.path.join(folder, name)
                if path in VOLATILE_SYSCTLS:
                    continue
                try:
                    with open(path, encoding="utf-8", errors="replace") as file:
                        values[path] = file.read().strip()
                except OSError:
                    continue  # write-only, or not set (see above)
    return values


def _named_namespaces() -> dict[str, object]:
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10,
                          check=True)
    return {line.split()[0]: True for line in done.stdout.splitlines() if line.strip()}


def _mounts() -> dict[str, object]:
    return {line: True for line in Path("/proc/self/mountinfo").read_text().splitlines()}


def snapshot() -> Snapshot:
    """The state of this namespace that a run must not change."""
    return {"interface": _links(), "address": _addresses(), "IPv4 route": _routes("-4"),
            "IPv6 route": _routes("-6"), "permanent neighbour": _permanent_neighbours(),
            "sysctl": _sysctls(), "named namespace": _named_namespaces(),
            "mount": _mounts()}


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    """Each change, one line naming what changed."""
    lines = []
    for kind, old in before.items():
        new = after[kind]
        lines += [f"{kind} added: {key} = {new[key]}" for key in new if key not in old]
        lines += [f"{kind} removed: {key} (was {old[key]})" for key in old if key not in new]
        lines += [f"{kind} changed: {key}: {old[key]} -> {new[key]}" for key in old
                  if key in new and old[key] != new[key]]
    return lines


def _processes() -> Iterator[tuple[int, bytes, bytes]]:
    """(pid, cmdline, environ) of every process still there (zombies have neither)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue  # gone while we looked
        yield int(pid), cmdline, environ


def leftovers(token: str, harness_pid: int) -> list[str]:
    """Processes of the run still alive: anything that inherited the run's token (forked
    peers keep the harness's own command line), or an agent or program started with
    `--parent` the harness's pid (in case one was given an environment of its own)."""
    marker, parent = f"{_TOKEN_ENV}={token}".encode(), f"--parent\0{harness_pid}\0".encode()
    found = []
    for pid, cmdline, environ in _processes():
        named = any(name.encode() in cmdline for name in OURS) and parent in cmdline
        if marker in environ.split(b"\0") or named:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
            found.append(f"pid {pid}: {command}")
    return found


_TOKEN_ENV = "HARNESS_ROOT_NS_TEST_RUN"


@pytest.fixture(autouse=True)
def _needs_ip() -> None:
    if shutil.which("ip") is None:
        refuse("ip is not installed; `make test` installs it (as root), or "
               "`apt-get install iproute2`")


def test_a_snapshot_is_stable_with_nothing_in_between() -> None:
    """Nothing the comparison looks at changes by itself (else it needs an exclusion)."""
    assert differences(snapshot(), snapshot()) == []


RUNS = {
    "loopback": (["default-close", "--topology", "loopback"], "fork"),
    # Peers started afresh, so that they run as `python -m harness.lab.child_peer_agent`.
    "veth": (["default-close", "--topology", "veth"], "exec"),
    # The first RST dropped by the user-space link: a third namespace and its child link agent.
    "veth-impaired": (["rst-lost", "--topology", "veth"], "fork"),
    # Sysctls set in the run's namespaces (tcp_fin_timeout 1, the machine's stays), and a
    # segment injected through a raw socket.
    "sysctls": (["fin-timeout-sysctl", "--topology", "loopback"], "fork"),
    "inject": (["time-wait-assassination", "--topology", "veth"], "fork"),
}


@pytest.mark.parametrize("run", RUNS)
def test_a_run_leaves_the_root_namespace_unchanged(run: str, tmp_path: Path) -> None:
    args, peers = RUNS[run]
    token = uuid.uuid4().hex
    env = {**os.environ, _TOKEN_ENV: token, "HARNESS_PEER_START": peers}
    before = snapshot()
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", *args, "--family", "ipv4",
                             "--pcap-dir", str(tmp_path)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = proc.communicate(timeout=60)
    left = leftovers(token, proc.pid)
    after = snapshot()
    assert proc.returncode in (0, 1), f"the run did not complete:\n{output}"  # 1: a FAIL
    assert list(tmp_path.glob("*.pcapng")), f"the run wrote no pcap:\n{output}"
    assert left == [], "processes of the run outlived it:\n" + "\n".join(left)
    changed = differences(before, after)
    assert changed == [], "the run changed the root namespace:\n" + "\n".join(changed)


def test_a_difference_names_what_changed() -> None:
    before = snapshot()
    after = json.loads(json.dumps(before))
    knob = min(before["sysctl"])
    after["sysctl"][knob] = "7"
    after["interface"]["veth-client"] = {"ifindex": 99, "flags": ["UP"], "mtu": 1500}
    del after["mount"][next(iter(after["mount"]))]
    changed = differences(before, after)
    assert len(changed) == 3
    assert f"sysctl changed: {knob}: {before['sysctl'][knob]} -> 7" in changed
    assert "interface added: veth-client = {'ifindex': 99, 'flags': ['UP'], 'mtu': 1500}" \
        in changed
    assert any(line.startswith("mount removed: ") for line in changed)
