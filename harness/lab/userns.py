"""Rootless capture runs: a user namespace of our own, entered while the process is one thread.

Without CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_NET_RAW a process can still make network
namespaces and packet sockets inside a user namespace of its own, as
`unshare --user --map-current-user --net` does: unshare(CLONE_NEWUSER | CLONE_NEWNET), write
"deny" to /proc/self/setgroups, map our uid and gid onto themselves. We then keep just those
three capabilities and make them ambient (as `setpriv --ambient-caps` does), so that they
hold over the namespaces made from there on (each lab's) in this process and in its children
(peer agents, pytest-xdist workers, tcpdump), all born inside. Files written belong to the
user, who keeps their uid. (Mapping it to 0, as --map-root-user does, would make tcpdump drop
privileges to its own user, who does not exist in a one-uid namespace: "Couldn't change to
'tcpdump' uid=...: Operation not permitted".)

The kernel refuses CLONE_NEWUSER to a multi-threaded process (EINVAL), so the front doors call
enter_if_unprivileged() before anything starts a thread: first thing in cli.main(), and first in
the pytest plugin's pytest_configure (the controller; xdist workers are born inside it). A
forked child tries the whole route first, so a blocked route leaves this process as it was.

The outcome is kept in HARNESS_USERNS for this process and its children, so that none tries
twice: "entered", or the one line saying what blocked the route and how to lift it. Setting
HARNESS_USERNS=0 turns the route off.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
from pathlib import Path

from harness.lab.netns import CLONE_NEWNET, _bring_up
from harness.lab.privileges import NEEDED

CLONE_NEWUSER = 0x10000000
ENV = "HARNESS_USERNS"
ENTERED = "entered"
OFF = "0"
ROOT = Path("/")
_ETH_P_ALL = 0x0003
_CAPABILITY_V3 = 0x20080522
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE = 47, 2
_libc = ctypes.CDLL(None, use_errno=True)

# The sysctls that forbid unprivileged user namespaces, the value that does, and the fix.
BLOCKS = [
    ("user/max_user_namespaces", "0",
     "user namespaces are disabled (user.max_user_namespaces=0): run as root, or "
     "`sudo sysctl -w user.max_user_namespaces=10000`"),
    ("kernel/unprivileged_userns_clone", "0",
     "unprivileged user namespaces are disabled (Debian's kernel.unprivileged_userns_clone=0): "
     "run as root, or `sudo sysctl -w kernel.unprivileged_userns_clone=1`"),
    ("kernel/apparmor_restrict_unprivileged_userns", "1",
     "unprivileged user namespaces are blocked by AppArmor "
     "(kernel.apparmor_restrict_unprivileged_userns=1): run as root, or "
     "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`"),
    ("user/max_net_namespaces", "0",
     "network namespaces are disabled (user.max_net_namespaces=0): "
     "`sudo sysctl -w user.max_net_namespaces=10000`"),
]
SECCOMP = ("a seccomp profile (a container?) forbids unshare(CLONE_NEWUSER): run as root, or "
           "start the container with --cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add NET_RAW")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return None


def _status(root: Path, field: str) -> str | None:
    """A field of /proc/self/status under root ("CapEff", "Seccomp"); None if not there."""
    for line in (_read(root / "proc/self/status") or "").splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return value.strip()
    return None


def _euid(root: Path) -> int | None:
    uids = (_status(root, "Uid") or "").split()
    return int(uids[1]) if len(uids) > 1 else None


def needs_namespace(root: Path = ROOT) -> bool:
    """True when this process lacks a capability a capture run needs (read from CapEff)."""
    have = int(_status(root, "CapEff") or "0", 16)
    return any(not have & (1 << bit) for bit, _why in NEEDED.values())


def sysctl_block(root: Path = ROOT) -> str | None:
    """The sysctl that forbids unprivileged user namespaces, as one line with its fix."""
    for name, value, line in BLOCKS:
        if _read(root / "proc/sys" / name) == value:
            return line
    return None


def explain(step: str, err: int, root: Path = ROOT) -> str:
    """One line for a route that failed at step (a call or a file) with errno err (0: unknown).

    A sysctl that forbids the route explains any failure; without one, EPERM from unshare is
    a seccomp filter (when /proc/self/status does not say there is none).
    """
    block = sysctl_block(root)
    if block:
        return block
    if step == "unshare(CLONE_NEWUSER)" and err in (errno.EPERM, errno.EACCES):
        if _status(root, "Seccomp") == "0":
            return (f"unshare(CLONE_NEWUSER) is refused ({errno.errorcode[err]}) though no "
                    "sysctl or seccomp filter forbids it (a chroot? SELinux?): run as root")
        return SECCOMP
    if step == "/proc/self/uid_map" and err == errno.EPERM and _euid(root) == 0:
        return ("uid 0 without CAP_SETFCAP may not map itself into a user namespace (Linux "
                "5.12+): run as root with its capabilities, or as another user")
    if err == errno.ENOSPC:
        return (f"{step} failed: this user's limit of namespaces is reached (see "
                "user.max_user_namespaces and user.max_net_namespaces): run as root")
    if err == 0:
        return f"entering a user namespace failed ({step}): run as root"
    name = errno.errorcode.get(err, str(err))
    return f"entering a user namespace failed at {step}: {os.strerror(err)} ({name}): run as root"


def threads() -> int:
    """How many threads this process runs."""
    return len(os.listdir("/proc/self/task"))


class _Failed(Exception):
    """A step of the route failed with errno err."""

    def __init__(self, step: str, err: int) -> None:
        super().__init__(step, err)
        self.step, self.err = step, err


def _call(ret: int, step: str) -> None:
    if ret != 0:
        raise _Failed(step, ctypes.get_errno())


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="ascii") as f:
            f.write(text)
    except OSError as exc:
        raise _Failed(path, exc.errno or 0) from None


def _keep_needed() -> None:
    """Hold just the capabilities a capture run needs (NEEDED), and make them ambient, so that
    children keep them across exec as they are not root (and nothing else is, such as
    CAP_DAC_OVERRIDE)."""
    mask = sum(1 << bit for bit, _why in NEEDED.values())
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_V3, 0)
    low, high = mask & 0xFFFFFFFF, mask >> 32
    data = (ctypes.c_uint32 * 6)(low, low, low, high, high, high)  # effective, permitted,
    _call(_libc.capset(header, data), "capset")  # inheritable; low words, then high words
    for bit, _why in NEEDED.values():
        _call(_libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, bit, 0, 0),
              "prctl(PR_CAP_AMBIENT_RAISE)")


def _enter(uid: int, gid: int) -> None:
    """The route: a user and a network namespace, our ids mapped, the needed capabilities
    ambient, lo up."""
    _call(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNET), "unshare(CLONE_NEWUSER)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    _keep_needed()
    try:
        _bring_up("lo")
    except OSError as exc:
        raise _Failed("bringing lo up", exc.errno or 0) from None


def _lab_check() -> None:
    """What a lab does next: a network namespace of its own and a packet socket in it."""
    _call(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL)).close()
    except OSError as exc:
        raise _Failed("socket(AF_PACKET)", exc.errno or 0) from None


def _probe(uid: int, gid: int) -> tuple[str, int] | None:
    """Try the whole route in a forked child: None if it works, else (step, errno)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports and exits; it never returns into the caller
        code = 1
        try:
            os.close(read_end)
            _enter(uid, gid)
            _lab_check()
            code = 0
        except _Failed as failed:
            os.write(write_end, f"{failed.err} {failed.step}".encode())
        except BaseException as exc:
            os.write(write_end, f"0 {type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        said = " ".join(pipe.read().decode(errors="replace").split())  # one line
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return None
    err, _, step = said.partition(" ")
    return (step or f"the probe ended with wait status {status}", int(err) if err.isdigit() else 0)


def _attempt() -> str | None:
    count = threads()
    if count > 1:
        return (f"this process already runs {count} threads, and the kernel lets only a "
                "single-threaded process enter a user namespace: run as root, or call "
                "harness.lab.userns.enter_if_unprivileged() before any thread starts")
    uid, gid = os.geteuid(), os.getegid()
    failed = _probe(uid, gid)
    if failed is None:
        try:
            _enter(uid, gid)
        except _Failed as exc:
            failed = (exc.step, exc.err)
    return explain(*failed) if failed else None


def enter_if_unprivileged() -> str | None:
    """Enter a user namespace of our own when capture runs need one and the kernel allows it.

    Returns None when nothing was needed or the namespace was entered; otherwise the one line
    naming what blocked it and how to lift it (also what route_problem() says from then on).
    Only the first call in a process tree tries; later calls, here or in children, return its
    outcome.
    """
    if os.environ.get(ENV, ""):
        return route_problem()
    if not needs_namespace():
        return None
    reason = _attempt()
    os.environ[ENV] = reason or ENTERED
    return reason


def route_problem() -> str | None:
    """Why the user-namespace route was not taken, in one line; None if untried or entered."""
    state = os.environ.get(ENV, "")
    if state == OFF:
        return f"the user-namespace route is turned off ({ENV}=0): run as root, or unset {ENV}"
    return None if state in ("", ENTERED) else state
