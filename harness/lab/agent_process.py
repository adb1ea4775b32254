"""Starting an agent process (a peer, or the user-space link): forked from this
interpreter, or a fresh one executed.

A fresh interpreter costs 25-30 ms of start-up per peer, two peers per run (and 6-13 s in a
guest under TCG, where every file it imports is read over 9p). A fork of the running
interpreter costs about a millisecond and needs no import at all, since everything the agent
runs is already loaded. The forked child keeps only its two pipes, stderr and the
namespace's descriptor (every other descriptor of ours is closed in it), freezes the heap it
inherited so its garbage collector never walks our objects, and never returns into our code:
it leaves by os._exit.

A fork happens while other threads of ours run (the capture's sniffer, say). The child uses
none of their locks: it writes with os.write and reads a file object of its own, and
CPython's fork hooks reset the GIL, the import lock and the threading module.
"""

from __future__ import annotations

import ctypes
import gc
import os
import select
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import IO

from harness.core.errors import UsageError

_AGENT_FD = 3  # where the namespace's descriptor sits in a forked child
_PR_SET_NAME = 15
LINK_NAME = "harness-link"  # a forked user-space link's process name
_LIBC = ctypes.CDLL(None)
# The child's body: called with the namespace's descriptor and the harness's pid, it never
# returns (it leaves by os._exit).
Body = Callable[[int, int], None]


def _peer_body() -> Body:
    # Imported before the fork, so that the child imports nothing.
    import harness.lab.child_peer_agent as agent

    return agent.run_forked


def _set_name(name: str) -> None:
    _LIBC.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


class ForkedAgent:
    """An agent forked from this process, with the part of Popen's interface we use; a peer
    agent unless another body is given."""

    def __init__(self, netns_fd: int, body: Body | None = None, name: str = "") -> None:
        parent = os.getpid()
        body = body or _peer_body()
        into_r, into_w = os.pipe2(os.O_CLOEXEC)
        back_r, back_w = os.pipe2(os.O_CLOEXEC)
        with warnings.catch_warnings():  # 3.12+ warns of fork() with threads; see above
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: never returns
            try:
                gc.freeze()
                if name:  # what ps and /proc/PID/comm show; the command line stays ours
                    _set_name(name)
                os.dup2(into_r, 0)
                os.dup2(back_w, 1)
                os.dup2(netns_fd, _AGENT_FD)
                os.closerange(_AGENT_FD + 1, os.sysconf("SC_OPEN_MAX"))
                body(_AGENT_FD, parent)
            finally:
                os._exit(70)
        os.close(into_r)
        os.close(back_w)
        self.pid = pid
        self.returncode: int | None = None
        self.stdin: IO[bytes] = os.fdopen(into_w, "wb")
        self.stdout: IO[bytes] = os.fdopen(back_r, "rb", buffering=0)
        self._pidfd = os.pidfd_open(pid)

    def poll(self) -> int | None:
        """The exit code once the process has ended (reaping it), else None."""
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self._ended(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end and return its exit code (negative: the signal);
        subprocess.TimeoutExpired after timeout seconds."""
        if self.returncode is None:
            if timeout is not None and not select.select([self._pidfd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(f"peer agent {self.pid}", timeout)
            _, status = os.waitpid(self.pid, 0)
            self._ended(status)
        assert self.returncode is not None
        return self.returncode

    def _ended(self, status: int) -> None:
        self.returncode = os.waitstatus_to_exitcode(status)
        os.close(self._pidfd)

    def send_signal(self, sig: int) -> None:
        """Send sig, unless the process has already been reaped."""
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL, unless the process has already been reaped."""
        self.send_signal(signal.SIGKILL)


def start_agent(netns_fd: int, how: str = "fork") -> ForkedAgent | subprocess.Popen:
    """A peer agent joined to the namespace behind netns_fd, talking JSON lines on its
    stdin/stdout: forked (how="fork", the default) or executed afresh (how="exec")."""
    if how == "fork":
        return ForkedAgent(netns_fd)
    if how != "exec":
        raise UsageError(f"HARNESS_PEER_START={how}: peers start by fork or exec")
    return subprocess.Popen(
        [sys.executable, "-m", "harness.lab.child_peer_agent", "--netns-fd", str(netns_fd),
         "--parent", str(os.getpid())],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(netns_fd,),
    )


def start_link_agent(netns_fd: int, options: Sequence[str],
                     how: str = "fork") -> ForkedAgent | subprocess.Popen:
    """The user-space link (harness.lab.child_link_agent with options) joined to the middle
    namespace behind netns_fd: forked (how="fork", the default) or executed afresh."""
    import harness.lab.child_link_agent as link

    if how == "fork":
        args = link.parser().parse_args(options)  # read here: the child only runs
        return ForkedAgent(netns_fd, lambda fd, parent: link.run_forked(fd, parent, args),
                           name=LINK_NAME)
    if how != "exec":
        raise UsageError(f"HARNESS_PEER_START={how}: agents start by fork or exec")
    return subprocess.Popen(
        [sys.executable, "-m", "harness.lab.child_link_agent", "--netns-fd", str(netns_fd),
         "--parent", str(os.getpid()), *options],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(netns_fd,),
    )


def default_start() -> str:
    """How peers and the user-space link start unless told: HARNESS_PEER_START=exec or fork
    (the default)."""
    return os.environ.get("HARNESS_PEER_START", "fork")

