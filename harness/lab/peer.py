"""The harness's side of a peer: a process in the namespace, and handles for its sockets.

A SocketHandle's methods are made from the table of calls (harness.core.calls): one per call
that runs on a socket, taking the table's arguments in its order (`deadline` and `within` by
keyword), so `conn.set_linger(1, 0)` in a test and `{ on = "conn", call = "set_linger",
onoff = 1, linger = 0 }` in a scenario are the same call.
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import json
import keyword
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from typing import Any

from harness.core.call_spec import (
    CallSpec,
    Opens,
    Runner,
    Target,
    args_problem,
    renamed_hint,
    value_problem,
)
from harness.core.calls import CALLS, DEADLINE, WITHIN, agent_args
from harness.core.errors import LabError, UsageError
from harness.core.result import Call
from harness.lab.agent_process import default_start, start_agent
from harness.lab.features import require
from harness.lab.netns import Namespace

REPLY_MARGIN = 5.0  # on top of a call's own deadline, for the agent to answer


class PeerError(LabError):
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
    """One socket of a peer, with a method for every call of the table that runs on a socket
    (see the module's docstring); `made` is the outcome of the call that made it under its
    name (accept, dup), also called `accepted`."""

    def __init__(self, process: PeerProcess, name: str, family: str, port: int,
                 host: str | None = None) -> None:
        self.process = process
        self.name = name
        self.family = family
        self.port = port
        self.host = host  # the server's address; None for the family's loopback address
        self.made: Call | None = None

    @property
    def accepted(self) -> Call | None:
        """The outcome of the accept() (or dup) that made this socket, None for the others."""
        return self.made

    def __repr__(self) -> str:
        return f"<SocketHandle {self.process.name}/{self.name}>"

    def sibling(self, name: str) -> SocketHandle:
        """Another socket of the same peer, aimed at the same server."""
        return SocketHandle(self.process, name, self.family, self.port, self.host)

    def perform(self, call: str, args: Mapping[str, Any]) -> Call | SocketHandle:
        """Make one call of the table, its arguments as a scenario writes them. A call that
        returns a socket of its own (accept) gives that socket's handle; the rest their Call."""
        spec = CALLS[call]
        if spec.runner is Runner.PROCESS:
            return self.process.end(self.name, call, int(args.get("code", 0)))
        if spec.opens is Opens.ITSELF and spec.opened(args) and spec.names_by:
            return self.sibling(spec.opened(args)).perform(
                call, {k: v for k, v in args.items() if k != spec.names_by})
        if spec.needs is not None:
            require(spec.needs, call)
        sent = agent_args(spec, args)
        if "data" in sent:
            sent["data"] = base64.b64encode(sent["data"]).decode()
        where = {"family": self.family, "port": self.port, "host": self.host}
        sent.update({k: where[k] for k in spec.addressed if where[k] is not None})
        timeout = 10.0
        if spec.lasts is not None:
            lasts = spec.arg(spec.lasts)
            assert lasts is not None
            waits = args.get(spec.lasts, lasts.default)
            if lasts.name == WITHIN.name:  # results.json has always written it as a float
                waits = float(waits)
            sent[lasts.agent_name], timeout = waits, float(waits) + spec.margin
        deadline = args.get(DEADLINE.name) if spec.blocking else None
        outcome = self.process.call(self.name, call, deadline=deadline, timeout=timeout, **sent)
        if spec.opens in (Opens.RETURNED, Opens.ALIAS):
            made = self.sibling(str(spec.opened(args)))
            made.made = outcome
            return made
        return outcome


def _python_name(name: str) -> str:
    """An argument's name as a Python parameter (`as` is a keyword: it becomes `name`)."""
    return "name" if keyword.iskeyword(name) else name


def _signature(spec: CallSpec) -> inspect.Signature:
    """The table's arguments as parameters: in their order, those marked keyword by name."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for arg in spec.args:
        kind = (inspect.Parameter.KEYWORD_ONLY if arg.keyword
                else inspect.Parameter.POSITIONAL_OR_KEYWORD)
        default = inspect.Parameter.empty if arg.required else arg.default
        params.append(inspect.Parameter(_python_name(arg.name), kind, default=default))
    return inspect.Signature(params)


def _method(spec: CallSpec) -> Callable[..., Any]:
    """The SocketHandle method for one call, checking what it is given as the loader checks
    a scenario: a mistake is a UsageError that names the call and what it takes."""
    signature = _signature(spec)
    names = {_python_name(arg.name): arg.name for arg in spec.args}
    takes = str(signature).replace("(self, ", "(").replace("(self)", "()")

    def method(*given: Any, **keywords: Any) -> Any:
        for old in keywords:
            hint = renamed_hint(spec, old)
            if hint:
                raise UsageError(hint)
        try:
            bound = signature.bind(*given, **keywords)
        except TypeError as exc:
            raise UsageError(f"{spec.name}{takes}: {exc}") from None
        self = bound.arguments.pop("self")
        args = {names[k]: v for k, v in bound.arguments.items() if v is not None}
        for name, value in args.items():
            problem = value_problem(spec, spec.arg(name), value)  # type: ignore[arg-type]
            if problem:
                raise UsageError(f"{spec.name}(): {problem}")
        problem = args_problem(spec, args)
        if problem:
            raise UsageError(f"{spec.name}(): {problem}")
        return self.perform(spec.name, args)

    method.__name__ = method.__qualname__ = spec.name
    method.__doc__ = f"{spec.doc[0].upper()}{spec.doc[1:]}."
    method.__signature__ = signature  # type: ignore[attr-defined]
    return method


for _spec in CALLS.values():
    if _spec.target is Target.SOCKET:
        setattr(SocketHandle, _spec.name, _method(_spec))
