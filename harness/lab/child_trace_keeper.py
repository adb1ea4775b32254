"""The keeper of one process's tracefs instance, run as a child process of its own
(`python -m harness.lab.child_trace_keeper NAME LOW HIGH`).

It mounts tracefs in a mount namespace of its own (the machine's mounts stay as they were),
removes the instances of harness processes that died without removing theirs, makes the
instance NAME with the run tracepoints enabled (trace clock mono; events of ports LOW to
HIGH only, where the tracepoint has ports) and prints one JSON line: where the instance is
as the parent sees it (through /proc/PID/root), or why it cannot be. Then it waits for its
standard input to end, which happens when the parent closes it or dies in any way (SIGKILL
included), and removes the instance.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import sys
from pathlib import Path

from harness.core.kernel_events import TRACEPOINTS
from harness.lab.waiting import WaitTimeout, wait_until

PREFIX = "tcp-close-harness-"
_CLONE_NEWNS = 0x00020000
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000
_MOUNT_AT = "/sys/kernel/tracing"
_REMOVE_WITHIN = 5.0
#: The instance's buffer per CPU: a run's events are a few kilobytes; the default (1.4 MB a
#: CPU) would cost every process tens of megabytes on a large machine.
BUFFER_KB = 256  # seconds to wait for the parent's reader to let go of the instance


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount_tracefs() -> str:
    libc = _libc()
    _check(libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "making / private")
    if not os.path.isdir(_MOUNT_AT):
        raise OSError(0, f"this kernel has no {_MOUNT_AT} (tracing is not built in)")
    if _tracefs_mounted():  # a guest's init (virtme-ng's) mounts it there; again is EBUSY
        return _MOUNT_AT
    _check(libc.mount(b"nodev", _MOUNT_AT.encode(), b"tracefs", 0, None), "mount tracefs")
    return _MOUNT_AT


def _tracefs_mounted() -> bool:
    """Whether tracefs is already mounted at _MOUNT_AT (in this mount namespace)."""
    try:
        mounts = Path("/proc/self/mounts").read_text()
    except OSError:
        return False
    return any(line.split()[1:3] == [_MOUNT_AT, "tracefs"] for line in mounts.splitlines()
               if len(line.split()) > 2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap_stale(instances: str) -> None:
    """Remove instances of harness processes that are gone (a keeper killed with them)."""
    for name in os.listdir(instances):
        owner = name[len(PREFIX):]
        if name.startswith(PREFIX) and owner.isdigit() and not _alive(int(owner)):
            with contextlib.suppress(OSError):  # another keeper may be removing it
                os.rmdir(os.path.join(instances, name))


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as file:
        file.write(text)


def _port_filter(low: int, high: int) -> str:
    ours = f"(sport >= {low} && sport <= {high}) || (dport >= {low} && dport <= {high})"
    return f"{ours} || sport == 0"


def _set_up(root: str, name: str, low: int, high: int) -> dict:
    instances = os.path.join(root, "instances")
    _reap_stale(instances)
    inst = os.path.join(instances, name)
    os.mkdir(inst)
    _write(os.path.join(inst, "trace_clock"), "mono")
    _write(os.path.join(inst, "buffer_size_kb"), str(BUFFER_KB))
    _write(os.path.join(inst, "options", "record-tgid"), "1")  # a thread's process, printed
    no_reasons = ""
    for point in TRACEPOINTS:
        event = os.path.join(inst, "events", point)
        if not os.path.isdir(event):
            raise OSError(0, f"this kernel has no tracepoint {point}")
        with open(os.path.join(event, "format"), encoding="ascii") as file:
            fields = file.read()
        if point.endswith("tcp_send_reset") and " reason;" not in fields:
            no_reasons = ("this kernel's tcp_send_reset tracepoint has no reason field "
                          "(it came in Linux 6.10)")
        if " sport;" in fields:
            _write(os.path.join(event, "filter"), _port_filter(low, high))
        _write(os.path.join(event, "enable"), "1")
    return {"instance": f"/proc/{os.getpid()}/root{inst}", "no_reasons": no_reasons}


def _remove(inst: str) -> None:
    """Remove the instance, once the parent's reader (gone with it) has let go."""
    def removed() -> bool:
        try:
            os.rmdir(inst)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True

    try:
        wait_until(removed, _REMOVE_WITHIN, f"tracefs instance {inst} to be removable")
    except WaitTimeout as exc:
        print(f"child_trace_keeper: {exc}", file=sys.stderr)


def main(argv: list[str]) -> int:
    name, low, high = argv[0], int(argv[1]), int(argv[2])
    root = inst = None
    try:
        root = _mount_tracefs()
        told = _set_up(root, name, low, high)
        inst = os.path.join(root, "instances", name)
    except OSError as exc:
        told = {"problem": exc.strerror or str(exc)}
        if root is not None:
            inst = os.path.join(root, "instances", name)
            if os.path.isdir(inst):
                _remove(inst)
            inst = None
    print(json.dumps(told), flush=True)
    while sys.stdin.buffer.read(4096):  # until the parent closes it or dies
        pass
    if inst is not None:
        _remove(inst)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
