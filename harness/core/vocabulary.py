"""The words every part of the harness shares: families, sides, topologies, TCP states,
addresses and ports, and how an endpoint is written."""

from __future__ import annotations

from types import MappingProxyType

#: Address families a scenario runs on.
FAMILIES = ("ipv4", "ipv6")
#: The two peers of a run: the side that connects, and the side that listens.
SIDES = ("client", "server")
#: Who makes a call: a peer, or the lab itself (the waits on states and the wire).
ACTORS = (*SIDES, "lab")
#: Where the peers live: one namespace's `lo`, or two namespaces joined by a veth pair.
TOPOLOGIES = ("loopback", "veth")
#: How a veth link's netem arguments are played (HARNESS_LINK; harness.core.link.link_path).
LINK_PATHS = ("auto", "kernel", "user")
#: Whose egress an impaired link's qdisc sits on.
LINK_SIDES = ("both", *SIDES)

#: The port the server listens on, unless a lab is given another (`harness probe --port`).
SERVER_PORT = 5000
#: Addresses on loopback, by family.
LOOPBACK = MappingProxyType({"ipv4": "127.0.0.1", "ipv6": "::1"})
#: Addresses and prefix lengths of each end of the veth pair (documentation ranges).
VETH = MappingProxyType({
    "client": MappingProxyType({"ipv4": ("192.0.2.1", 24), "ipv6": ("2001:db8::1", 64)}),
    "server": MappingProxyType({"ipv4": ("192.0.2.2", 24), "ipv6": ("2001:db8::2", 64)})})

#: TCP states as `ss` names them, indexed by the kernel's enum tcp_state (1 is ESTABLISHED).
TCP_STATES = (
    "", "ESTABLISHED", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
    "CLOSE", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING", "NEW-SYN-RECV",
)
#: The state we report for a side whose socket is in no kernel table any more (RFC 793).
CLOSED = "CLOSED"
#: Every state a scenario may name.
STATE_NAMES = (*TCP_STATES[1:], CLOSED)

#: The states one connection's socket can move to next (RFC 9293's diagram, with Linux's
#: CLOSE for a reset socket its process still holds, and NEW-SYN-RECV for a request not yet a
#: socket). Any state but CLOSED can be reset to CLOSE or vanish; nothing follows CLOSED.
_NEXT = MappingProxyType({
    "LISTEN": ("SYN-RECV",), "NEW-SYN-RECV": ("SYN-RECV", "ESTABLISHED"),
    "SYN-SENT": ("SYN-RECV", "ESTABLISHED"), "SYN-RECV": ("ESTABLISHED", "FIN-WAIT-1"),
    "ESTABLISHED": ("FIN-WAIT-1", "CLOSE-WAIT"),
    "FIN-WAIT-1": ("FIN-WAIT-2", "CLOSING", "TIME-WAIT"), "FIN-WAIT-2": ("TIME-WAIT",),
    "CLOSING": ("TIME-WAIT",), "TIME-WAIT": (), "CLOSE-WAIT": ("LAST-ACK",), "LAST-ACK": (),
    "CLOSE": (), CLOSED: ()})


def _then(state: str) -> tuple[str, ...]:
    if state == CLOSED:
        return ()
    return (*_NEXT[state], CLOSED) if state == "CLOSE" else (*_NEXT[state], "CLOSE", CLOSED)


def _later(state: str) -> frozenset[str]:
    """Every state that can follow state, at once or after others."""
    seen: set[str] = set()
    todo = [state]
    while todo:
        for after in _then(todo.pop()):
            if after not in seen:
                seen.add(after)
                todo.append(after)
    return frozenset(seen)


#: For each state, every state the same socket can still reach from it: a side waited on for
#: a state it can no longer reach is decided at once.
LATER_STATES = MappingProxyType({state: _later(state) for state in STATE_NAMES})
#: States in which a socket sends nothing unless a segment arrives (TIME-WAIT only answers).
SILENT_STATES = frozenset({"TIME-WAIT", "CLOSE", CLOSED})

#: Seconds a run may take, steps to teardown, unless told otherwise.
RUN_DEADLINE = 60.0

Endpoint = tuple[str, int]


def endpoint_text(end: Endpoint) -> str:
    """`127.0.0.1:5000`, or `[::1]:5000` for an IPv6 address."""
    host, port = end
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def state_endpoint(end: Endpoint) -> str:
    """`::1:5000`: how results.json's final states have always written an endpoint (no
    brackets; the port is after the last colon)."""
    return f"{end[0]}:{end[1]}"


def tcpdump_endpoint(end: Endpoint) -> str:
    """`10.0.0.1.40000`, as tcpdump writes an address and port."""
    return f"{end[0]}.{end[1]}"
