"""The trace keeper's set-up of a tracefs instance, against a fake tracefs in a temporary
directory (no mount, no privileges): what it writes where, what it says of a kernel without
RST reasons or without a tracepoint, and which stale instances it removes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.core.kernel_events import TRACEPOINTS
from harness.lab import child_trace_keeper as keeper

LOW, HIGH = 20000, 20999
FILTER = ("(sport >= 20000 && sport <= 20999) || (dport >= 20000 && dport <= 20999) "
          "|| sport == 0")
NAME = f"{keeper.PREFIX}{os.getpid()}"  # as the harness names its own: live, never reaped


def _format(name: str, *fields: str) -> str:
    """An event's format file, laid out as tracefs writes it."""
    lines = [f"name: {name}", "ID: 1234", "format:",
             "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;", ""]
    lines += [f"\tfield:{field};\toffset:8;\tsize:8;\tsigned:0;" for field in fields]
    return "\n".join([*lines, "", 'print fmt: "..."', ""])


_SK = ("const void * skaddr", "__u16 family", "__u16 sport", "__u16 dport",
       "__u8 saddr[4]", "__u8 daddr[4]", "__u8 saddr_v6[16]", "__u8 daddr_v6[16]",
       "__u64 sock_cookie")
# Linux 6.18's formats; tcp_send_reset has addresses as sockaddrs, without ports of their own.
FORMATS = {
    "tcp/tcp_send_reset": _format(
        "tcp_send_reset", "const void * skbaddr", "const void * skaddr", "int state",
        "enum sk_rst_reason reason", "__u8 saddr[sizeof(struct sockaddr_in6)]",
        "__u8 daddr[sizeof(struct sockaddr_in6)]"),
    "tcp/tcp_receive_reset": _format("tcp_receive_reset", *_SK),
    "tcp/tcp_destroy_sock": _format("tcp_destroy_sock", *_SK),
    "tcp/tcp_retransmit_skb": _format(
        "tcp_retransmit_skb", "const void * skbaddr", "const void * skaddr", "int state",
        *_SK[1:-1]),
    "sock/inet_sock_set_state": _format(
        "inet_sock_set_state", "const void * skaddr", "int oldstate", "int newstate",
        *_SK[1:-1], "__u16 protocol"),
}
# Before 6.10, tcp_send_reset was one of the tcp_event_sk_skb class: ports, no reason.
OLD_SEND_RESET = _format("tcp_send_reset", "const void * skbaddr", "int state", *_SK[:-1])


class _Tracefs:
    """The os module as the keeper sees it, whose mkdir of an instance makes what tracefs
    makes for one: its options and, for each tracepoint of formats, format, filter and enable
    files as a fresh instance has them."""

    def __init__(self, formats: dict[str, str]) -> None:
        self.formats = formats

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def mkdir(self, path: str) -> None:
        os.mkdir(path)
        root = Path(path)
        (root / "options").mkdir()
        (root / "options" / "record-tgid").write_text("0\n")
        (root / "trace_clock").write_text("[local] global counter uptime perf mono\n")
        for point, text in self.formats.items():
            event = root / "events" / point
            event.mkdir(parents=True)
            (event / "format").write_text(text)
            (event / "filter").write_text("none\n")
            (event / "enable").write_text("0\n")


def _set_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            formats: dict[str, str] = FORMATS) -> tuple[dict, Path]:
    (tmp_path / "instances").mkdir(exist_ok=True)
    monkeypatch.setattr(keeper, "os", _Tracefs(formats))
    told = keeper._set_up(str(tmp_path), NAME, LOW, HIGH)
    return told, tmp_path / "instances" / NAME


def test_the_instance_traces_the_run_points_on_the_mono_clock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    told, inst = _set_up(tmp_path, monkeypatch)
    assert told == {"instance": f"/proc/{os.getpid()}/root{inst}", "no_reasons": ""}
    assert (inst / "trace_clock").read_text() == "mono"
    assert (inst / "options" / "record-tgid").read_text() == "1"
    assert {point: (inst / "events" / point / "enable").read_text()
            for point in TRACEPOINTS} == dict.fromkeys(TRACEPOINTS, "1")


def test_events_with_ports_get_the_port_filter(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _told, inst = _set_up(tmp_path, monkeypatch)
    filters = {point: (inst / "events" / point / "filter").read_text() for point in TRACEPOINTS}
    assert filters == {**dict.fromkeys(TRACEPOINTS, FILTER), "tcp/tcp_send_reset": "none\n"}


def test_the_port_filter_keeps_the_slice_and_portless_connects() -> None:
    assert keeper._port_filter(LOW, HIGH) == FILTER
    assert keeper._port_filter(5, 6) == (
        "(sport >= 5 && sport <= 6) || (dport >= 5 && dport <= 6) || sport == 0")


def test_a_kernel_without_rst_reasons_is_said_so(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    told, inst = _set_up(tmp_path, monkeypatch,
                         {**FORMATS, "tcp/tcp_send_reset": OLD_SEND_RESET})
    assert told["no_reasons"] == ("this kernel's tcp_send_reset tracepoint has no reason field "
                                  "(it came in Linux 6.10)")
    reset = inst / "events" / "tcp" / "tcp_send_reset"
    assert ((reset / "filter").read_text(), (reset / "enable").read_text()) == (FILTER, "1")


def test_a_field_whose_name_ends_in_reason_is_no_reason(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    format_ = FORMATS["tcp/tcp_send_reset"].replace("enum sk_rst_reason reason",
                                                    "int no_reason")
    told, _inst = _set_up(tmp_path, monkeypatch, {**FORMATS, "tcp/tcp_send_reset": format_})
    assert told["no_reasons"] != ""


@pytest.mark.parametrize("missing", TRACEPOINTS)
def test_a_missing_tracepoint_is_named(missing: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    formats = {point: text for point, text in FORMATS.items() if point != missing}
    with pytest.raises(OSError) as info:
        _set_up(tmp_path, monkeypatch, formats)
    assert info.value.strerror == f"this kernel has no tracepoint {missing}"


def test_an_instance_that_exists_already_is_refused(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "instances" / NAME).mkdir(parents=True)
    with pytest.raises(FileExistsError):
        _set_up(tmp_path, monkeypatch)


def _dead_pid() -> int:
    """The pid of a process that has ended and been waited for."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_stale_instances_of_dead_harness_processes_are_removed(tmp_path: Path) -> None:
    instances = tmp_path / "instances"
    dead, live = f"{keeper.PREFIX}{_dead_pid()}", f"{keeper.PREFIX}{os.getpid()}"
    foreign = "x" * len(keeper.PREFIX) + dead[len(keeper.PREFIX):]  # a dead pid, no prefix
    kept = [live, f"{keeper.PREFIX}1", f"{keeper.PREFIX}abc", "someone-elses", foreign]
    for name in [dead, *kept]:
        (instances / name).mkdir(parents=True)
    keeper._reap_stale(str(instances))
    assert sorted(p.name for p in instances.iterdir()) == sorted(kept)


def test_a_stale_instance_that_cannot_be_removed_is_left(tmp_path: Path) -> None:
    """A stale instance being removed by another keeper (rmdir fails) is no error."""
    stale = tmp_path / "instances" / f"{keeper.PREFIX}{_dead_pid()}"
    stale.mkdir(parents=True)
    (stale / "busy").write_text("")  # a plain directory's rmdir fails while it holds a file
    keeper._reap_stale(str(tmp_path / "instances"))
    assert stale.is_dir()


def test_set_up_reaps_before_it_makes_its_instance(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "instances" / f"{keeper.PREFIX}{_dead_pid()}"
    stale.mkdir(parents=True)
    _told, inst = _set_up(tmp_path, monkeypatch)
    assert [p.name for p in (tmp_path / "instances").iterdir()] == [inst.name]


def test_alive() -> None:
    assert keeper._alive(os.getpid())
    assert keeper._alive(1)  # another user's process (PermissionError) or root's own
    assert not keeper._alive(_dead_pid())


@pytest.mark.capture
def test_the_keeper_uses_a_tracefs_already_mounted_where_it_mounts(tmp_path: Path) -> None:
    """Where tracefs is mounted at /sys/kernel/tracing already (systemd does it on most
    machines; virtme-ng's init in a guest), mounting it there again is EBUSY: the keeper
    uses the mount it finds, and still removes its instance when its input ends."""
    name = f"{keeper.PREFIX}{os.getpid() + 4_000_000}"  # a pid no process has
    script = ("mount -t tracefs nodev /sys/kernel/tracing && "
              f"{sys.executable} -m harness.lab.child_trace_keeper {name} 20000 31999 "
              "< /dev/null && ls /sys/kernel/tracing/instances")
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    told = json.loads(done.stdout.splitlines()[0])
    assert "problem" not in told and told["instance"].endswith(f"/instances/{name}"), told
    assert name not in done.stdout.splitlines()[1:]  # removed once its input ended
