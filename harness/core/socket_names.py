"""The kernel's names a step may write, each in one table with Linux's number: socket option
levels and options (by name, with the level each belongs to), poll events, MSG flags, and the
fields of struct tcp_info the harness reads; and the addresses bind takes. The numbers are
Linux's uapi values (asm-generic/socket.h, linux/tcp.h, linux/in.h, linux/in6.h,
asm-generic/poll.h, linux/socket.h); a test holds them to Python's socket and select modules.

The checks here say in one line what is wrong with a name and what to write instead; the
loader and the peer handle both use them (through the table of calls)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from harness.core.errors import closest, quoted

#: Option levels by name: what setsockopt(2) takes as its `level`.
LEVELS: Mapping[str, int] = MappingProxyType({
    "SOL_SOCKET": 1, "IPPROTO_IP": 0, "IPPROTO_TCP": 6, "IPPROTO_IPV6": 41})
#: The level whose options apply to one address family only.
FAMILY_LEVELS: Mapping[str, str] = MappingProxyType({"IPPROTO_IPV6": "ipv6"})


class Reads(enum.Enum):
    """How an option's value reads back."""

    INT = "an integer"
    ERRNO = "an errno name, or 0 for none"


@dataclass(frozen=True)
class Option:
    """One socket option: its level and number, whether setsockopt may set it (`use` names
    the call that sets it instead), whether getsockopt reads it as an int, and whether a
    closing call's story names it once set (it changes what a close does)."""

    level: str
    number: int
    reads: Reads = Reads.INT
    settable: bool = True
    readable: bool = True
    use: str | None = None
    story: bool = False


def _options(*rows: tuple[str, Option]) -> Mapping[str, Option]:
    return MappingProxyType(dict(rows))


_SOL, _TCP = "SOL_SOCKET", "IPPROTO_TCP"
#: Every option setsockopt and getsockopt take, by name.
OPTIONS: Mapping[str, Option] = _options(
    ("SO_REUSEADDR", Option(_SOL, 2)), ("SO_TYPE", Option(_SOL, 3, settable=False)),
    ("SO_ERROR", Option(_SOL, 4, reads=Reads.ERRNO, settable=False)),
    ("SO_SNDBUF", Option(_SOL, 7, use="set_sndbuf")),
    ("SO_RCVBUF", Option(_SOL, 8, use="set_rcvbuf")),
    ("SO_KEEPALIVE", Option(_SOL, 9)), ("SO_OOBINLINE", Option(_SOL, 10)),
    ("SO_LINGER", Option(_SOL, 13, readable=False, use="set_linger")),
    ("SO_REUSEPORT", Option(_SOL, 15)), ("SO_RCVLOWAT", Option(_SOL, 18)),
    ("SO_SNDLOWAT", Option(_SOL, 19)), ("SO_ACCEPTCONN", Option(_SOL, 30, settable=False)),
    ("SO_PROTOCOL", Option(_SOL, 38, settable=False)),
    ("SO_DOMAIN", Option(_SOL, 39, settable=False)),
    ("TCP_NODELAY", Option(_TCP, 1)), ("TCP_MAXSEG", Option(_TCP, 2)),
    ("TCP_CORK", Option(_TCP, 3, story=True)), ("TCP_KEEPIDLE", Option(_TCP, 4)),
    ("TCP_KEEPINTVL", Option(_TCP, 5)), ("TCP_KEEPCNT", Option(_TCP, 6)),
    ("TCP_SYNCNT", Option(_TCP, 7)), ("TCP_LINGER2", Option(_TCP, 8, story=True)),
    ("TCP_DEFER_ACCEPT", Option(_TCP, 9)), ("TCP_WINDOW_CLAMP", Option(_TCP, 10)),
    ("TCP_INFO", Option(_TCP, 11, settable=False, readable=False, use="tcp_info")),
    ("TCP_QUICKACK", Option(_TCP, 12)), ("TCP_USER_TIMEOUT", Option(_TCP, 18, story=True)),
    ("TCP_NOTSENT_LOWAT", Option(_TCP, 25)),
    ("IP_TOS", Option("IPPROTO_IP", 1)), ("IP_TTL", Option("IPPROTO_IP", 2)),
    ("IPV6_UNICAST_HOPS", Option("IPPROTO_IPV6", 16)), ("IPV6_V6ONLY", Option("IPPROTO_IPV6", 26)),
    ("IPV6_TCLASS", Option("IPPROTO_IPV6", 67)),
)
#: The options a closing call's story names once set (TCP_LINGER2 1, TCP_CORK 1, ...).
STORY_OPTIONS = frozenset(name for name, option in OPTIONS.items() if option.story)


@dataclass(frozen=True)
class PollEvent:
    """One poll(2) event: its bit, and whether a step may ask for it (POLLERR, POLLHUP and
    POLLNVAL are reported whether asked for or not)."""

    bit: int
    asked: bool = True


#: The poll events, in the order revents are written.
POLL_EVENTS: Mapping[str, PollEvent] = MappingProxyType({
    "POLLIN": PollEvent(0x1), "POLLPRI": PollEvent(0x2), "POLLOUT": PollEvent(0x4),
    "POLLERR": PollEvent(0x8, asked=False), "POLLHUP": PollEvent(0x10, asked=False),
    "POLLNVAL": PollEvent(0x20, asked=False), "POLLRDHUP": PollEvent(0x2000)})

@dataclass(frozen=True)
class MsgFlag:
    """One MSG flag of send(2) and recv(2): its bit, and the calls that take it."""

    bit: int
    calls: frozenset[str]


_SEND, _RECV, _BOTH = frozenset({"send"}), frozenset({"recv"}), frozenset({"send", "recv"})
#: MSG flags by name.
MSG_FLAGS: Mapping[str, MsgFlag] = MappingProxyType({
    "MSG_OOB": MsgFlag(0x1, _BOTH), "MSG_PEEK": MsgFlag(0x2, _RECV),
    "MSG_TRUNC": MsgFlag(0x20, _RECV), "MSG_DONTWAIT": MsgFlag(0x40, _BOTH),
    "MSG_WAITALL": MsgFlag(0x100, _RECV), "MSG_NOSIGNAL": MsgFlag(0x4000, _SEND),
    "MSG_MORE": MsgFlag(0x8000, _SEND)})

#: The fields of struct tcp_info (linux/tcp.h) the harness reads: name, struct format, offset,
#: in the order results record them. `state` is an enum tcp_state, written as ss names it.
TCP_INFO_FIELDS: tuple[tuple[str, str, int], ...] = (
    ("state", "B", 0), ("unacked", "I", 24), ("retransmits", "B", 2), ("probes", "B", 3),
    ("backoff", "B", 4), ("lost", "I", 32), ("retrans", "I", 36), ("snd_mss", "I", 16),
    ("rcv_mss", "I", 20))
#: Bytes of struct tcp_info to ask for: enough for every field above.
TCP_INFO_SIZE = 104


def _known(word: str, names: Mapping[str, Any], what: str) -> str:
    """`'TCP_NODELY' is not a socket option the harness knows; did you mean TCP_NODELAY?`"""
    near = closest(word, list(names))
    hint = f"; did you mean {near[0]}?" if near else f" (known: {', '.join(names)})"
    return f"{quoted(word)} is not {what} the harness knows{hint}"


def option_problem(name: str, call: str) -> str | None:
    """Why setsockopt or getsockopt (call) cannot take the option called name, None if it
    can."""
    option = OPTIONS.get(name)
    if option is None:
        return _known(name, OPTIONS, "a socket option")
    if call == "setsockopt" and option.use is not None:
        return f"{name} is set by its own call: use {option.use}"
    if call == "setsockopt" and not option.settable:
        return f"{name} can only be read: use getsockopt"
    if call == "getsockopt" and not option.readable:
        how = f"{option.use} reads it" if option.use == "tcp_info" else f"{option.use} sets it"
        return f"{name} is not an integer getsockopt reads ({how})"
    return None


def level_problem(args: Mapping[str, Any]) -> str | None:
    """Why a step's level does not fit its option (`name`), None if it fits or is left out."""
    level, name = args.get("level"), args.get("name")
    if level is None or name not in OPTIONS:
        return None
    if OPTIONS[name].level != level:
        return (f"{name} is an {OPTIONS[name].level} option, not {level}: write level = "
                f"\"{OPTIONS[name].level}\" or leave level out")
    return None


def events_problem(events: Any) -> str | None:
    """Why a poll step's events cannot be asked for, None if they can."""
    if not events:
        return "events names at least one event to wait for, such as [\"POLLIN\"]"
    for name in events:
        event = POLL_EVENTS.get(name)
        if event is None:
            return _known(name, POLL_EVENTS, "a poll event")
        if not event.asked:
            return f"{name} is always reported, asked for or not: leave it out of events"
    return None


def revents_problem(names: Any) -> str | None:
    """Why a list of poll events (an expectation) names one that does not exist, None if
    every one does."""
    for name in names:
        if not isinstance(name, str) or name not in POLL_EVENTS:
            return _known(str(name), POLL_EVENTS, "a poll event")
    return None


def flags_problem(call: str) -> Callable[[Any], str | None]:
    """The check of a `flags` list for call (send or recv): why a flag does not exist or
    belongs to the other call, None if every flag fits."""

    def problem(flags: Any) -> str | None:
        for name in flags:
            if name not in MSG_FLAGS:
                return _known(name, MSG_FLAGS, "a MSG flag")
            if call not in MSG_FLAGS[name].calls:
                other = " and ".join(sorted(MSG_FLAGS[name].calls))
                return f"{name} is a flag of {other}, not of {call}"
        return None

    return problem


def revents_names(mask: int) -> list[str]:
    """The names of the poll events set in mask, in the table's order."""
    return [name for name, event in POLL_EVENTS.items() if mask & event.bit]


def bits(names: Any, table: Mapping[str, PollEvent | MsgFlag]) -> int:
    """The OR of the bits the names stand for in POLL_EVENTS or MSG_FLAGS."""
    total = 0
    for name in names:
        total |= table[name].bit
    return total


def address_family(address: str) -> str | None:
    """The family ("ipv4", "ipv6") of an address literal, None if it is not one."""
    import ipaddress  # only for a bind that names an address: `harness list` starts faster

    try:
        return "ipv4" if ipaddress.ip_address(address).version == 4 else "ipv6"
    except ValueError:
        return None


def address_problem(address: Any) -> str | None:
    """Why bind cannot take address, None if it is an IPv4 or IPv6 address literal."""
    if address_family(address) is None:
        return (f"{quoted(address)} is not an IPv4 or IPv6 address; leave address out for "
                "the family's wildcard address")
    return None
