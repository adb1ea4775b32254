"""The orchestrator's side of a peer: a process in the namespace, and handles for its sockets."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

from harness.core.result import Call
from harness.lab.agent_process import default_start, start_agent
from harness.lab.netns import Namespace

REPLY_MARGIN = 5.0  # on top of a call's own deadline, for the agent to answer


class PeerError(RuntimeError):
    """A peer process died, hung or answered nonsense."""


class PeerTimeout(PeerError):
    """A peer gave no answer in time."""


class PeerProcess:
    """One agent process (client or server) inside the namespace."""

    def __init__(self, ns: Namespace, name: str, record: Callable[[Call], None],
                 start: str | None = None) -> None:
        self.name = name
        self._record = record
        self._proc = start_agent(ns.fd, start or default_start())
        self.until: float | None = None  # the run's deadline (time.monotonic), if it has one
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._proc.stdout, selectors.EVENT_READ)
        self._buffer = b""
        self.pid = self._proc.pid

    def wait_ready(self, within: float = 20.0) -> None:
        """Wait until the agent has joined its namespace and said so; PeerError if not."""
        self._read(within, "start")

    def _read(self, timeout: float, what: str) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = end - time.monotonic()
            if left <= 0 or not self._sel.select(left):
                raise PeerTimeout(f"{self.name}: no answer to {what} within {timeout:.1f} s")
            chunk = os.read(self._proc.stdout.fileno(), 65536)
            if not chunk:
                code = self._proc.wait()
                raise PeerError(f"{self.name}: the peer process exited (code {code}) during {what}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def call(self, sock: str, op: str, deadline: float | None = None,
             timeout: float = 10.0, **args: Any) -> Call:
        """Run one call in the peer and return its outcome (also recorded for the run)."""
        command = {"op": op, "args": {"name": sock, **args}, "deadline": deadline,
                   "timeout": timeout}
        try:
            self._proc.stdin.write((json.dumps(command) + "\n").encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError):  # ValueError: the pipe was closed by kill()
            raise PeerError(f"{self.name}: the peer process has ended "
                            f"({self._ending()}), so {sock}.{op}() cannot run") from None
        wait = (deadline if deadline is not None else timeout) + REPLY_MARGIN
        if self.until is not None and self.until - time.monotonic() < wait:
            try:
                reply = self._read(max(self.until - time.monotonic(), 0.0), f"{sock}.{op}()")
            except PeerTimeout:
                raise PeerError(f"{self.name}: the run's deadline passed while {sock}.{op}() "
                                "was still running") from None
        else:
            reply = self._read(wait, f"{sock}.{op}()")
        outcome = _to_call(self.name, sock, op, args, reply)
        self._record(outcome)
        return outcome

    def end(self, sock: str, how: str, code: int = 0, timeout: float = 10.0) -> Call:
        """The process ends with its sockets open: it calls _exit(code) or gets SIGKILL.

        The call's duration runs until the process has been reaped, so it includes closing
        every descriptor the process held; its return value is the exit status.
        """
        start, began = time.time(), time.monotonic()
        if how == "exit":
            command = {"op": "exit", "args": {"name": sock, "code": code}}
            self._proc.stdin.write((json.dumps(command) + "\n").encode())
            self._proc.stdin.flush()
        else:
            self._proc.send_signal(signal.SIGKILL)
        error = None
        try:
            status: int | None = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            status, error = None, f"the process did not end within {timeout:.1f} s"
        call = Call(peer=self.name, sock=sock, call=how,
                    args={"code": code} if how == "exit" else {}, ret=status, start=start,
                    elapsed=time.monotonic() - began, error=error)
        self._record(call)
        return call

    def _ending(self) -> str:
        code = self._proc.poll()
        if code is None:
            return "it is still running but stopped reading"
        return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"

    def alive(self) -> bool:
        """True while the process runs."""
        return self._proc.poll() is None

    def signal_kill(self) -> None:
        """Send SIGKILL unless the process has ended; kill() then reaps it."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)

    def kill(self) -> None:
        """End the process now (SIGKILL) and reap it."""
        self.signal_kill()
        self._proc.wait()
        self._sel.close()
        for pipe in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(OSError):  # a broken pipe from a dead peer says nothing
                pipe.close()


def _to_call(peer: str, sock: str, op: str, args: dict[str, Any], reply: dict) -> Call:
    info = {k: v for k, v in reply.items()
            if k not in ("ret", "errno", "start", "elapsed", "blocked", "error")}
    if "data" in args:
        info["sent_len"] = len(base64.b64decode(args["data"]))
    return Call(peer=peer, sock=sock, call=op, args=args, ret=reply.get("ret"),
                errno=reply.get("errno"), start=reply.get("start", time.time()),
                elapsed=reply.get("elapsed", 0.0), blocked=reply.get("blocked", False),
                error=reply.get("error"), info=info)


class SocketHandle:
    """One socket of a peer, with the calls a scenario can make on it."""

    def __init__(self, process: PeerProcess, name: str, family: str, port: int,
                 host: str | None = None) -> None:
        self.process = process
        self.name = name
        self.family = family
        self.port = port
        self.host = host  # the server's address; None for the family's loopback address
        self.accepted: Call | None = None

    def sibling(self, name: str) -> SocketHandle:
        """Another socket of the same peer, aimed at the same server."""
        return SocketHandle(self.process, name, self.family, self.port, self.host)

    def _where(self) -> dict[str, Any]:
        return {"family": self.family, "port": self.port,
                **({"host": self.host} if self.host else {})}

    def _call(self, op: str, deadline: float | None = None, **args: Any) -> Call:
        return self.process.call(self.name, op, deadline=deadline, **args)

    def socket(self) -> Call:
        """socket(): make the socket now, so that options can be set before connect()."""
        return self._call("socket", family=self.family)

    def listen(self, backlog: int = 16) -> Call:
        """bind() to the lab's address and port, then listen()."""
        return self._call("listen", backlog=backlog, **self._where())

    def connect(self, deadline: float | None = None) -> Call:
        """connect() to the server's address and port."""
        return self._call("connect", deadline, **self._where())

    def accept(self, name: str = "conn", deadline: float | None = None) -> SocketHandle:
        """accept(); the new connection gets its own handle (its outcome is `.accepted`)."""
        outcome = self._call("accept", deadline, into=name)
        handle = self.sibling(name)
        handle.accepted = outcome
        return handle

    def send(self, data: bytes | int, deadline: float | None = None) -> Call:
        """One send() of data (or of that many bytes of b"x")."""
        payload = b"x" * data if isinstance(data, int) else data
        return self._call("send", deadline, data=base64.b64encode(payload).decode())

    def recv(self, size: int, deadline: float | None = None) -> Call:
        """One recv() of at most size bytes; the bytes are in `.info["data"]` (base64)."""
        return self._call("recv", deadline, size=size)

    def set_linger(self, onoff: int, linger: int) -> Call:
        """setsockopt(SO_LINGER, {onoff, linger})."""
        return self._call("set_linger", onoff=onoff, linger=linger)

    def set_nonblocking(self, on: bool = True) -> Call:
        """fcntl(O_NONBLOCK) on or off."""
        return self._call("set_nonblocking", on=on)

    def set_rcvbuf(self, size: int) -> Call:
        """setsockopt(SO_RCVBUF)."""
        return self._call("set_rcvbuf", size=size)

    def set_sndbuf(self, size: int) -> Call:
        """setsockopt(SO_SNDBUF)."""
        return self._call("set_sndbuf", size=size)

    def shutdown(self, how: str = "SHUT_WR") -> Call:
        """shutdown(how), how one of SHUT_RD, SHUT_WR, SHUT_RDWR."""
        return self._call("shutdown", how=how)

    def close(self, deadline: float | None = None) -> Call:
        """close(2)."""
        return self._call("close", deadline)

    def wait_acked(self, within: float = 5.0) -> Call:
        """Wait until every byte written has been acknowledged (send queue empty)."""
        return self.process.call(self.name, "wait_acked", timeout=within + 2, within=within)

    def wait_inq(self, size: int, within: float = 5.0) -> Call:
        """Wait until at least size unread bytes are in the receive queue."""
        return self.process.call(self.name, "wait_inq", timeout=within + 2, size=size,
                                 within=within)

    def collect(self, timeout: float = 10.0) -> Call:
        """The outcome of this peer's call that was still blocked at its deadline."""
        return self.process.call(self.name, "collect", timeout=timeout)

    def fill(self, within: float = 5.0) -> Call:
        """Write without blocking until the peer's window is shut and the send buffer full."""
        return self.process.call(self.name, "fill", timeout=within + 5, within=within)

    def drain(self, deadline: float | None = None) -> Call:
        """recv() until end of file or an error; returns the byte count (`info["ended_by"]`)."""
        return self._call("drain", deadline)

    def exit(self, code: int = 0) -> Call:
        """The peer process calls _exit(code) with its sockets still open; waits until reaped."""
        return self.process.end(self.name, "exit", code)

    def kill(self) -> Call:
        """SIGKILL to the peer process, its sockets still open; waits until reaped."""
        return self.process.end(self.name, "kill")
