"""The process that is a TCP peer: it joins the namespace and runs one socket call per command.

This module runs in the child: as `python -m harness.lab.child_peer_agent --netns-fd N
--parent PID`, or forked from the harness (harness.lab.agent_process). Each call of the table
(harness.core.calls) that the agent carries out is one `op_<name>` method of Agent, taking
the table's arguments by the names the agent knows them by.
Commands arrive as JSON lines on stdin and each gets one JSON line back on stdout: the
call's return value, errno name, when it started and how long it blocked. Every call runs
in its own thread so that one with a deadline can be reported as still blocked while it
goes on; `collect` later waits for its outcome.
"""

from __future__ import annotations

import argparse
import base64
import errno
import fcntl
import json
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from harness.core.socket_names import MSG_FLAGS, bits
from harness.core.vocabulary import LOOPBACK
from harness.lab import sockdiag, socket_calls
from harness.lab.netns import join_for_life
from harness.lab.waiting import WaitTimeout, wait_until

SIOCINQ = 0x541B
SIOCOUTQ = 0x5411
SIOCOUTQNSD = 0x894B  # bytes queued but not yet sent
FILL_CHUNK = 65536
DEFAULT_TIMEOUT = 10.0
_FAMILIES = {"ipv4": (socket.AF_INET, LOOPBACK["ipv4"]),
             "ipv6": (socket.AF_INET6, LOOPBACK["ipv6"])}
_WILDCARD = {"ipv4": "0.0.0.0", "ipv6": "::"}
#: Calls the agent answers itself, outside a thread of their own.
CONTROL_OPS = ("collect",)
_HOW = {"SHUT_RD": socket.SHUT_RD, "SHUT_WR": socket.SHUT_WR, "SHUT_RDWR": socket.SHUT_RDWR}


class Agent:
    """The sockets of one peer, by name, and the calls that act on them."""

    def __init__(self) -> None:
        self.socks: dict[str, socket.socket] = {}
        self.pending: tuple[threading.Thread, dict[str, Any]] | None = None

    def sock(self, name: str) -> socket.socket:
        if name not in self.socks:
            raise KeyError(f"this peer holds no socket named {name!r}")
        return self.socks[name]

    # -- the calls: each returns (ret, info) or raises OSError -------------------------
    def op_listen(self, name: str, family: str, port: int, backlog: int = 16,
                  host: str | None = None) -> tuple:
        """listen() on the socket of that name, bound first to the lab's address and port
        unless a bind() did that; a socket of its own (SO_REUSEADDR) when it has none."""
        fam, addr = _FAMILIES[family]
        s = self.socks.get(name)
        if s is None:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if s.getsockname()[1] == 0:
            s.bind((host or addr, port))
        s.listen(backlog)
        self.socks[name] = s
        return 0, {"local": list(s.getsockname()[:2])}

    def op_bind(self, name: str, family: str, local_port: int, address: str | None = None
                ) -> tuple:
        """bind() of the socket of that name (made now if there is none) to the address, or
        the family's wildcard address, and port."""
        s = self.socks.get(name) or socket.socket(_FAMILIES[family][0], socket.SOCK_STREAM)
        self.socks[name] = s
        s.bind((address or _WILDCARD[family], local_port))
        return 0, {"local": list(s.getsockname()[:2])}

    def op_socket(self, name: str, family: str) -> tuple:
        """A TCP socket made ahead of connect(), so that options can be set first."""
        if name in self.socks:
            raise KeyError(f"this peer already holds a socket named {name!r}")
        s = socket.socket(_FAMILIES[family][0], socket.SOCK_STREAM)
        self.socks[name] = s
        return s.fileno(), {}

    def op_connect(self, name: str, family: str, port: int, host: str | None = None) -> tuple:
        fam, addr = _FAMILIES[family]
        addr = host or addr
        s = self.socks.get(name) or socket.socket(fam, socket.SOCK_STREAM)
        self.socks[name] = s
        s.connect((addr, port))
        return 0, {"local": list(s.getsockname()[:2])}

    def op_accept(self, name: str, into: str) -> tuple:
        conn, peer = self.sock(name).accept()
        self.socks[into] = conn
        return conn.fileno(), {"peer": list(peer[:2]), "local": list(conn.getsockname()[:2])}

    def op_dup(self, name: str, into: str) -> tuple:
        """dup(): a second descriptor for the socket, under its own name."""
        self.socks[into] = socket.socket(fileno=os.dup(self.sock(name).fileno()))
        return self.socks[into].fileno(), {}

    def op_send(self, name: str, data: str, flags: tuple[str, ...] = ()) -> tuple:
        """One send(); a SIGPIPE it raises is caught (blocked, then taken) and reported."""
        s = self.sock(name)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
        try:
            sent = s.send(base64.b64decode(data), bits(flags, MSG_FLAGS))
        except OSError as exc:
            exc.harness_info = _took_sigpipe()  # type: ignore[attr-defined]
            raise
        return sent, _took_sigpipe()

    def op_recv(self, name: str, size: int, flags: tuple[str, ...] = ()) -> tuple:
        """One recv(); with MSG_TRUNC the kernel copies nothing, so no data is reported."""
        if "MSG_TRUNC" in flags:
            return self.sock(name).recv_into(bytearray(size), size, bits(flags, MSG_FLAGS)), {}
        data = self.sock(name).recv(size, bits(flags, MSG_FLAGS))
        return len(data), {"data": base64.b64encode(data).decode()}

    def op_drain(self, name: str) -> tuple:
        """recv() until end of file or an error: how many bytes, and what ended it."""
        s, total = self.sock(name), 0
        while True:
            try:
                chunk = s.recv(1 << 20)
            except OSError as exc:
                ended = errno.errorcode.get(exc.errno or 0, str(exc.errno))
                return total, {"ended_by": ended}
            if not chunk:
                return total, {"ended_by": "EOF"}
            total += len(chunk)

    def op_fill(self, name: str, within: float) -> tuple:
        """Write until the socket takes no more: the peer's window is shut, the send buffer full.

        Writes without blocking until EAGAIN, waits until nothing is in flight (all sent
        bytes acknowledged, the rest unsent), and stops when a write then still gets EAGAIN.
        """
        s, total, chunk = self.sock(name), 0, b"x" * FILL_CHUNK
        while True:
            try:
                total += s.send(chunk, socket.MSG_DONTWAIT)
                continue
            except BlockingIOError:
                pass
            stalled = self._stalled(s, within)
            if stalled is not None:
                return -1, {"written": total, "timeout": stalled}
            try:
                total += s.send(chunk, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return total, {"queued": _queue(s, SIOCOUTQ), "unsent": _queue(s, SIOCOUTQNSD)}

    @staticmethod
    def _stalled(s: socket.socket, within: float) -> str | None:
        what = "every sent byte acknowledged and bytes left unsent (the peer's window shut)"

        def stalled() -> bool:
            queued, unsent = _queue(s, SIOCOUTQ), _queue(s, SIOCOUTQNSD)
            return unsent > 0 and queued == unsent

        try:
            wait_until(stalled, within, what)
        except WaitTimeout:
            return what
        return None

    def op_set_linger(self, name: str, onoff: int, linger: int) -> tuple:
        s = self.sock(name)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", onoff, linger))
        return 0, {}

    def op_set_nonblocking(self, name: str, enabled: bool = True) -> tuple:
        fd = self.sock(name).fileno()
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        flags = flags | os.O_NONBLOCK if enabled else flags & ~os.O_NONBLOCK
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)
        return 0, {}

    def op_set_rcvbuf(self, name: str, size: int) -> tuple:
        return self._setbuf(name, socket.SO_RCVBUF, size)

    def op_set_sndbuf(self, name: str, size: int) -> tuple:
        return self._setbuf(name, socket.SO_SNDBUF, size)

    def _setbuf(self, name: str, option: int, size: int) -> tuple:
        s = self.sock(name)
        s.setsockopt(socket.SOL_SOCKET, option, size)
        return 0, {"effective": s.getsockopt(socket.SOL_SOCKET, option)}

    def op_setsockopt(self, name: str, option: str, value: int, level: str | None = None
                      ) -> tuple:
        """setsockopt() by the option's name (its level is the table's, which a given level
        was checked against); what getsockopt() reads back afterwards."""
        return 0, socket_calls.set_option(self.sock(name), option, value)

    def op_getsockopt(self, name: str, option: str, level: str | None = None) -> tuple:
        """getsockopt() by the option's name: its value (SO_ERROR's as an errno name)."""
        return 0, {"value": socket_calls.read_option(self.sock(name), option)}

    def op_tcp_info(self, name: str) -> tuple:
        """getsockopt(TCP_INFO): the state and counters the table names."""
        return 0, socket_calls.tcp_info(self.sock(name))

    def op_poll(self, name: str, events: list[str], seconds: float) -> tuple:
        """poll() for the named events, at most seconds: ready count and revents."""
        ready, revents = socket_calls.poll(self.sock(name), events, seconds)
        return ready, {"revents": revents}

    def op_shutdown(self, name: str, how: str) -> tuple:
        self.sock(name).shutdown(_HOW[how])
        return 0, {}

    def op_close(self, name: str) -> tuple:
        s = self.sock(name)
        fd = s.detach()
        del self.socks[name]
        os.close(fd)  # close(2) as is: socket.close() would swallow ECONNRESET
        return 0, {}

    def op_disconnect(self, name: str) -> tuple:
        """connect() with AF_UNSPEC: the descriptor stays open."""
        socket_calls.disconnect(self.sock(name))
        return 0, {}

    def op_destroy(self, name: str) -> tuple:
        """sock_diag SOCK_DESTROY of the socket, from this namespace (the agent's)."""
        sockdiag.destroy(self.sock(name))
        return 0, {}

    def op_wait_acked(self, name: str, within: float) -> tuple:
        """Wait until the send queue is empty: every byte written has been acknowledged."""
        return self._wait_queue(name, SIOCOUTQ, lambda n: n == 0, within, "send queue empty")

    def op_wait_inq(self, name: str, size: int, within: float) -> tuple:
        """Wait until at least size bytes sit unread in the receive queue."""
        what = f"at least {size} bytes in the receive queue"
        return self._wait_queue(name, SIOCINQ, lambda n: n >= size, within, what)

    def _wait_queue(self, name: str, ioctl: int, ok: Callable[[int], bool], within: float,
                    what: str) -> tuple:
        s = self.sock(name)
        try:
            wait_until(lambda: ok(_queue(s, ioctl)), within, what)
        except WaitTimeout:
            return -1, {"queued": _queue(s, ioctl), "timeout": what}
        return 0, {"queued": _queue(s, ioctl)}


def _queue(s: socket.socket, ioctl: int) -> int:
    """One of the socket's queue lengths in bytes (SIOCINQ, SIOCOUTQ, SIOCOUTQNSD)."""
    return struct.unpack("i", fcntl.ioctl(s.fileno(), ioctl, b"\0" * 4))[0]


def _took_sigpipe() -> dict[str, Any]:
    """Take a SIGPIPE pending for this thread, if any: {"signal": "SIGPIPE"} when there was one.

    The calling thread blocks SIGPIPE, so the kernel keeps it pending even though Python
    ignores it; taking it here tells us whether the call raised it.
    """
    if signal.SIGPIPE in signal.sigpending():
        signal.sigtimedwait({signal.SIGPIPE}, 0)
        return {"signal": "SIGPIPE"}
    return {}


def _outcome(fn: Callable[[], tuple]) -> dict[str, Any]:
    start_wall, start = time.time(), time.monotonic()
    try:
        ret, info = fn()
        err = None
    except OSError as exc:
        ret, info = -1, getattr(exc, "harness_info", {})
        err = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    return {"ret": ret, "errno": err, "start": start_wall,
            "elapsed": time.monotonic() - start, "blocked": False, **info}


def _run_call(agent: Agent, cmd: dict[str, Any]) -> dict[str, Any]:
    """Start the call in a thread; wait for it up to its deadline."""
    op = getattr(agent, "op_" + cmd["op"], None)
    if op is None:
        return {"error": f"unknown call {cmd['op']!r}"}
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            box.update(_outcome(lambda: op(**cmd.get("args", {}))))
        except (KeyError, TypeError, ValueError) as exc:
            box.update({"error": f"{cmd['op']}: {exc}"})

    worker = threading.Thread(target=body, daemon=True)
    started = time.monotonic(), time.time()
    worker.start()
    deadline = cmd.get("deadline")
    worker.join(deadline if deadline is not None else cmd.get("timeout", DEFAULT_TIMEOUT))
    if not worker.is_alive():
        return box
    agent.pending = (worker, box)
    waited = time.monotonic() - started[0]
    reply = {"ret": None, "errno": None, "start": started[1], "elapsed": waited, "blocked": True}
    if deadline is None:
        reply["error"] = f"{cmd['op']} did not return within {waited:.1f} s"
    return reply


def _collect(agent: Agent, cmd: dict[str, Any]) -> dict[str, Any]:
    if agent.pending is None:
        return {"error": "collect: no call is pending"}
    worker, box = agent.pending
    worker.join(cmd.get("timeout", DEFAULT_TIMEOUT))
    if worker.is_alive():
        return {"ret": None, "errno": None, "blocked": True, "elapsed": 0.0, "start": time.time(),
                "error": "collect: the pending call still has not returned"}
    agent.pending = None
    return box


def _reply(message: dict[str, Any]) -> None:
    os.write(1, (json.dumps(message) + "\n").encode())


def serve(agent: Agent) -> None:
    """Answer commands (JSON lines on descriptor 0) until it closes or an exit command
    comes; each answer is one JSON line on descriptor 1."""
    for line in os.fdopen(0, "rb", closefd=False):
        cmd = json.loads(line)
        if cmd["op"] == "exit":  # no answer: the orchestrator reaps us and reports the status
            os._exit(int(cmd.get("args", {}).get("code", 0)))
        handler = _collect if cmd["op"] in CONTROL_OPS else _run_call
        _reply(handler(agent, cmd))


def main() -> None:
    """Join the namespace, tie our life to the parent's, then serve."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--netns-fd", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args()
    run_forked(args.netns_fd, args.parent)


def run_forked(netns_fd: int, parent: int) -> None:
    """In a process the orchestrator started (executed or forked): join the namespace, tie
    our life to the parent's, serve; the process ends here."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the orchestrator's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    join_for_life(netns_fd, parent)
    _reply({"ready": os.getpid()})
    serve(Agent())
    os._exit(0)


if __name__ == "__main__":
    main()
