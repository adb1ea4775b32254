"""The launcher of a user's program, run in the child: `python -m harness.lab.child_launcher
--netns-fd N --parent PID --ready-fd N -- COMMAND...`.

It ties its life to the harness (PR_SET_PDEATHSIG), joins the side's namespace, puts back the
signal dispositions Python changed (SIGPIPE, SIGXFSZ, SIGINT) and execs the command, so that
the process *is* the user's program. The ready descriptor closes on the exec, which tells the
harness the program runs; if the exec fails, the reason is written there instead.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

from harness.lab.netns import join_for_life


def main(argv: Sequence[str] | None = None) -> None:
    """The launcher: tie our life to the harness, join the namespace, exec the command."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        split = args.index("--")
        options = dict(zip(args[:split:2], args[1:split:2], strict=True))
        netns_fd, parent = int(options["--netns-fd"]), int(options["--parent"])
        ready = int(options["--ready-fd"])
        command = args[split + 1:]
    except (ValueError, KeyError):
        sys.exit("usage: python -m harness.lab.child_launcher --netns-fd N --parent PID "
                 "--ready-fd N -- COMMAND...")
    try:
        join_for_life(netns_fd, parent)
        os.set_inheritable(ready, False)  # the exec closes it: the harness knows we run
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):  # as a shell starts it
            signal.signal(sig, signal.SIG_DFL)
        os.execvp(command[0], command)
    except Exception as exc:  # said to the harness, which raises ProgramError with it
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        os.write(ready, f"cannot run {command[0]}: {reason}".encode())
        os._exit(127)


if __name__ == "__main__":
    main()
