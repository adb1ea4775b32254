"""The user's own programs as a lab's peers: a command run in one side's network namespace.

A Program is started through harness.lab.child_launcher, a small launcher that does what the
harness's own peers do: it ties its life to the harness (PR_SET_PDEATHSIG, SIGKILL), joins
the namespace, puts back the signal dispositions Python changed (SIGPIPE, SIGXFSZ) and then
execs the command, so the process *is* the user's program, in its own session (a process
group `stop()` can signal as a whole). Nothing outlives the lab: `stop()` sends SIGTERM to
the group, then SIGKILL after a short grace, and reaps; a SIGKILL of the harness kills the
program with it.

stdout and stderr go to files in a temporary folder (only their tails are read back, for
reports); `close()` stops the program, keeps the tails in memory and removes the folder.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.core.errors import UserError
from harness.lab.netns import Namespace
from harness.lab.waiting import wait_until

STOP_GRACE = 1.0  # seconds between SIGTERM and SIGKILL
TAIL_BYTES = 4096
START_TIMEOUT = 20.0  # for the launcher to exec the command
_SHELL = "/bin/sh"


class ProgramError(UserError):
    """A user program could not be started or did not do what the run needed (one line)."""


class NoSuchProgram(ProgramError, FileNotFoundError):
    """The executable a command names does not exist (or is not executable)."""


def substitute(argv: Sequence[str], host: str | None, port: int | None) -> list[str]:
    """Each argument with `{host}` and `{port}` replaced (other braces are left alone)."""
    out = []
    for arg in argv:
        if host is not None:
            arg = arg.replace("{host}", host)
        if port is not None:
            arg = arg.replace("{port}", str(port))
        out.append(arg)
    return out


def command_argv(command: str | Sequence[str], shell: bool) -> list[str]:
    """The argument list a command runs as: split like a shell would (no shell involved), or
    `/bin/sh -c COMMAND` with shell=True. ProgramError for an empty or unparsable command."""
    if shell:
        text = command if isinstance(command, str) else " ".join(command)
        if not text.strip():
            raise ProgramError("an empty command")
        return [_SHELL, "-c", text]
    if isinstance(command, str):
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise ProgramError(f"cannot split the command {command!r}: {exc}") from None
    else:
        argv = [str(a) for a in command]
    if not argv:
        raise ProgramError("an empty command")
    return argv


def resolve(program: str) -> str:
    """The executable that runs for argv[0], looked up like execvp; NoSuchProgram if none."""
    if "/" in program:
        if not os.path.isfile(program):
            raise NoSuchProgram(f"no such program: {program}")
        if not os.access(program, os.X_OK):
            raise NoSuchProgram(f"not executable: {program}")
        return program
    found = shutil.which(program)
    if found is None:
        raise NoSuchProgram(f"no such program: {program} (not found on PATH)")
    return found


def describe_status(code: int | None) -> str:
    """`exited 0`, `killed by SIGTERM`, or `still running`."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited {code}"


class Program:
    """One user command running in a side's namespace, its output kept in files."""

    def __init__(self, ns: Namespace, side: str, command: str | Sequence[str], *,
                 shell: bool = False, stdin: bool = False, host: str | None = None,
                 port: int | None = None) -> None:
        self.side = side
        self.shell = shell
        self.argv = substitute(command_argv(command, shell), host, port)
        resolve(self.argv[0])
        self.stopped = False  # True once stop() had to end it
        self.stop_signal: str | None = None
        self._tails: dict[str, str] | None = None
        self._folder = Path(tempfile.mkdtemp(prefix=f"harness-{side}-"))
        self.ended: float | None = None
        # On the capture's clock (time.time): when it was launched, before it could send
        # anything, and when it was seen to have ended.
        self.started_at: float = time.time()
        self.ended_at: float | None = None
        ready, ready_w = os.pipe()  # closed by the exec (or says why the exec failed)
        launcher = [sys.executable, "-m", "harness.lab.child_launcher", "--netns-fd", str(ns.fd),
                    "--parent", str(os.getpid()), "--ready-fd", str(ready_w), "--",
                    *self.argv]
        try:
            with open(self._folder / "stdout", "wb") as out, \
                    open(self._folder / "stderr", "wb") as err:
                self._proc = subprocess.Popen(
                    launcher, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                    stdout=out, stderr=err, pass_fds=(ns.fd, ready_w),
                    start_new_session=True)
            self.pid = self._proc.pid
            os.close(ready_w)
            ready_w = -1
            self._await_exec(ready)
        except BaseException:
            if hasattr(self, "_proc"):
                self.stop()
            shutil.rmtree(self._folder, ignore_errors=True)
            raise
        finally:
            os.close(ready)
            if ready_w >= 0:
                os.close(ready_w)
        self.started = time.monotonic()

    def _await_exec(self, ready: int) -> None:
        """Return once the launcher has joined the namespace and exec'd the command (the
        pipe's end closes on exec); ProgramError with the launcher's reason otherwise."""
        said, end = b"", time.monotonic() + START_TIMEOUT
        while True:
            left = end - time.monotonic()
            if left <= 0 or not select.select([ready], [], [], left)[0]:
                raise ProgramError(f"the {self.side} program did not start within "
                                   f"{START_TIMEOUT:.0f} s: {self.command}")
            chunk = os.read(ready, 4096)
            if not chunk:
                break
            said += chunk
        if said:
            raise ProgramError(said.decode(errors="replace").strip())

    def __repr__(self) -> str:
        return f"<Program {self.side} pid {self.pid} {self.command!r}: {self.status_text()}>"

    @property
    def command(self) -> str:
        """The command as run, quoted for a shell."""
        return self.argv[2] if self.shell else shlex.join(self.argv)

    # -- its life ------------------------------------------------------------------------
    def poll(self) -> int | None:
        """The exit status (negative: the signal that ended it), None while it runs."""
        code = self._proc.poll()
        if code is not None and self.ended is None:
            self.ended, self.ended_at = time.monotonic(), time.time()
        return code

    @property
    def returncode(self) -> int | None:
        """The exit status once it has ended (see poll)."""
        return self.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait up to timeout seconds (None: for ever) for it to end: its exit status, or
        None if it is still running."""
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.poll()

    def feed(self, data: bytes) -> None:
        """Write data to its stdin (started with stdin=True)."""
        if self._proc.stdin is None:
            raise ProgramError(f"the {self.side} program was started without stdin=True")
        self._proc.stdin.write(data)
        self._proc.stdin.flush()

    def stop(self, grace: float = STOP_GRACE) -> int:
        """End it if it still runs (SIGTERM to its process group, SIGKILL after grace
        seconds), kill whatever is left of its group, reap it; its exit status."""
        if self._proc.poll() is None:
            self.stopped, self.stop_signal = True, "SIGTERM"
            self._signal_group(signal.SIGTERM)
            if self.wait(grace) is None:
                self.stop_signal = "SIGKILL"
                self._signal_group(signal.SIGKILL)
        self._signal_group(signal.SIGKILL)  # children it left behind in its group
        self._proc.wait()
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):  # a broken pipe to a dead program says nothing
                self._proc.stdin.close()
        return self.poll()  # type: ignore[return-value]

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def close(self) -> None:
        """Stop it, keep the tails of its output, remove its folder."""
        self.stop()
        if self._tails is None:
            self._tails = {name: self._read_tail(name) for name in ("stdout", "stderr")}
        shutil.rmtree(self._folder, ignore_errors=True)

    # -- what it said --------------------------------------------------------------------
    def _read_tail(self, name: str) -> str:
        if self._tails is not None:
            return self._tails[name]
        try:
            with open(self._folder / name, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - TAIL_BYTES))
                data = f.read()
        except OSError:
            return ""
        text = data.decode("utf-8", errors="replace")
        return text.split("\n", 1)[-1] if size > TAIL_BYTES else text

    def stdout(self) -> str:
        """The end of what it wrote to stdout (the last 4 KiB at most)."""
        return self._read_tail("stdout")

    def stderr(self) -> str:
        """The end of what it wrote to stderr (the last 4 KiB at most)."""
        return self._read_tail("stderr")

    def tail(self, name: str = "stderr", lines: int = 5) -> list[str]:
        """The last lines of stdout or stderr, blank lines left out."""
        return [line for line in self._read_tail(name).splitlines() if line.strip()][-lines:]

    def status_text(self) -> str:
        """`exited 0 after 0.012 s`, `stopped by SIGTERM after 10.0 s`, `still running`."""
        code = self.poll()
        if code is None:
            return "still running"
        took = f" after {self.ended - self.started:.3f} s" if self.ended is not None else ""
        if self.stopped:
            return f"stopped with {self.stop_signal}{took} ({describe_status(code)})"
        return f"{describe_status(code)}{took}"


class Programs(Sequence[Program]):
    """The user's programs started in one lab, oldest first; the lab stops them as it closes.

    `ns_of(side)` is the namespace of a side, `sockets(side)` the TCP sockets sock_diag sees
    there, `on_close(fn)` registers fn to run when the lab closes.
    """

    def __init__(self, ns_of: Callable[[str], Namespace], server: tuple[str, int],
                 sockets: Callable[[str], list[Any]],
                 on_close: Callable[[Callable[[], None]], None]) -> None:
        self._ns_of, self._server, self._sockets, self._on_close = ns_of, server, sockets, on_close
        self.started: list[Program] = []

    def __getitem__(self, index: int) -> Program:  # type: ignore[override]
        return self.started[index]

    def __len__(self) -> int:
        return len(self.started)

    def spawn(self, side: str, argv: str | Sequence[str], shell: bool = False,
              stdin: bool = False) -> Program:
        """Start a program in a side's namespace; `{host}` and `{port}` in its arguments
        become the server's address and port (see Program)."""
        host, port = self._server
        program = Program(self._ns_of(side), side, argv, shell=shell, stdin=stdin, host=host,
                          port=port)
        self._on_close(program.close)
        self.started.append(program)
        return program

    def listening(self, port: int) -> bool:
        """True when a socket in the server's namespace listens on port (any address)."""
        return any(sock.state == "LISTEN" and sock.local[1] == port
                   for sock in self._sockets("server"))

    def wait_listening(self, port: int, within: float = 5.0) -> None:
        """Wait until a socket in the server's namespace listens on port, read with sock_diag;
        WaitTimeout otherwise. ProgramError at once if every server program started here has
        exited without it listening."""
        servers = [p for p in self.started if p.side == "server"]

        def ready() -> bool:
            if self.listening(port):
                return True
            if servers and all(p.poll() is not None for p in servers):
                last = servers[-1]
                said = "; ".join(last.tail("stderr", 2))
                raise ProgramError(f"the server program {last.status_text()} without "
                                   f"listening on port {port}"
                                   + (f" (stderr: {said})" if said else ""))
            return False

        wait_until(ready, within, f"a socket listening on port {port} in the server's "
                                  "namespace")
