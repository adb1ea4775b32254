"""The privileged lab: namespaces, topologies, capture, sock_diag, peers, the user's programs.

Everything that touches the kernel lives here. Files named `child_*.py` run in processes the
lab starts (a peer agent, the user-space link, the launcher of a user's program); the rest run
in the harness's own process.
"""

#: The packages of the harness this package may import (besides itself).
MAY_IMPORT: tuple[str, ...] = ("harness.core", "harness.pcap")
