"""Scenarios as data: the TOML catalog, read and checked before anything runs."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.core.claims import Claim, ClaimError, parse_claims
from harness.core.expect import EXPECT_KEYS, Expect
from harness.core.pattern import PatternError, compile_pattern
from harness.core.result import STATE_NAMES

FAMILIES = ("ipv4", "ipv6")
TOPOLOGIES = ("loopback", "veth")
SIDES = ("client", "server")
# Each call a step can make, with the arguments it takes (name -> (type, required)).
CALLS: dict[str, dict[str, tuple[type | tuple[type, ...], bool]]] = {
    "socket": {},
    "listen": {"backlog": (int, False)},
    "connect": {"as": (str, False), "deadline": ((int, float), False)},
    "accept": {"as": (str, False), "deadline": ((int, float), False)},
    "send": {"bytes": (int, False), "text": (str, False), "deadline": ((int, float), False)},
    "recv": {"bytes": (int, True), "deadline": ((int, float), False)},
    "set_linger": {"onoff": (int, True), "linger": (int, True)},
    "set_nonblocking": {"on": (bool, False)},
    "set_rcvbuf": {"size": (int, True)},
    "set_sndbuf": {"size": (int, True)},
    "shutdown": {"how": (str, True)},
    "close": {"deadline": ((int, float), False)},
    "drain": {"deadline": ((int, float), False)},
    "fill": {"within": ((int, float), False)},
    "exit": {"code": (int, False)},
    "kill": {},
    "wait_acked": {"within": ((int, float), False)},
    "wait_inq": {"bytes": (int, True), "within": ((int, float), False)},
    "wait_state": {"state": (str, True), "connection": (str, False),
                   "within": ((int, float), False)},
    "wait_wire": {"pattern": (str, True), "within": ((int, float), False)},
    "collect": {},
}
SHUTDOWN_HOW = ("SHUT_RD", "SHUT_WR", "SHUT_RDWR")
INT_MAX = 2**31 - 1


class CatalogError(ValueError):
    """A scenario file is not valid; the message names the file and the place."""


@dataclass(frozen=True)
class Step:
    """One call by one socket (or, for wait_state, a wait on one side's TCP state)."""

    on: str
    call: str
    args: dict[str, Any] = field(default_factory=dict)
    expect: Expect | None = None

    def text(self) -> str:
        """The step as written: `conn.recv(100)`."""
        shown = ", ".join(f"{v}" for k, v in self.args.items() if k not in ("deadline", "within"))
        return f"{self.on}.{self.call}({shown})"


@dataclass(frozen=True)
class Scenario:
    """A close scenario: what the literature says, the steps, and what Linux should show."""

    id: str
    title: str
    statement: str
    source: str
    pattern: str
    steps: tuple[Step, ...]
    states: dict[str, str]
    families: tuple[str, ...] = FAMILIES
    topologies: tuple[str, ...] = TOPOLOGIES
    claims: tuple[Claim, ...] = ()
    min_send_q: dict[str, int] = field(default_factory=dict)
    wireshark_warnings: tuple[str, ...] = ()
    link: dict[str, Any] = field(default_factory=dict)
    path: str = ""


def _fail(where: str, message: str) -> CatalogError:
    return CatalogError(f"{where}: {message}")


def _check_type(where: str, key: str, value: Any, kind: type | tuple[type, ...]) -> None:
    wanted = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in wanted:
        raise _fail(where, f"{key} must be a {'/'.join(k.__name__ for k in wanted)}, not {value!r}")
    if not isinstance(value, wanted):
        raise _fail(where, f"{key} must be a {'/'.join(k.__name__ for k in wanted)}, not {value!r}")


def _check_table(where: str, raw: Any, name: str, known: dict[str, Any], example: str,
                 unknown: str) -> dict[str, Any]:
    """A TOML table whose keys all come from known (key -> type), each of its type."""
    if not isinstance(raw, dict):
        raise _fail(where, f"{name} must be a table such as {example}")
    for key, value in raw.items():
        if key not in known:
            raise _fail(where, f"{unknown} {key!r} (known: {', '.join(known)})")
        _check_type(where, f"{name}.{key}", value, known[key])
    return raw


def _expect(where: str, raw: Any) -> Expect:
    return Expect(**_check_table(where, raw, "expect", EXPECT_KEYS, "{ ret = 0 }",
                                 "unknown expectation"))


def _step(where: str, raw: dict[str, Any], sockets: dict[str, str]) -> Step:
    on, call = raw.get("on"), raw.get("call")
    if call not in CALLS:
        raise _fail(where, f"unknown call {call!r} (known: {', '.join(CALLS)})")
    if call == "wait_state":
        if on not in SIDES:
            raise _fail(where, f"wait_state takes on = \"client\" or \"server\", not {on!r}")
    elif call == "wait_wire":
        if on not in (None, "wire"):
            raise _fail(where, "wait_wire watches the wire: leave out on, or write on = \"wire\"")
        on = "wire"
    elif on not in sockets:
        raise _fail(where, f"no socket named {on!r} yet (known: {', '.join(sockets)})")
    args = {k: v for k, v in raw.items() if k not in ("on", "call", "expect")}
    for key, value in args.items():
        if key not in CALLS[call]:
            known = ", ".join(CALLS[call]) or "none"
            raise _fail(where, f"{call} takes no argument {key!r} (it takes: {known})")
        _check_type(where, key, value, CALLS[call][key][0])
    for key, (_kind, required) in CALLS[call].items():
        if required and key not in args:
            raise _fail(where, f"{call} needs {key}")
    _check_values(where, call, args, sockets)
    if call == "accept":
        sockets[args.get("as", "conn")] = sockets[on]
    if call == "connect" and "as" in args:
        if args["as"] in sockets:
            raise _fail(where, f"a socket named {args['as']!r} exists already")
        sockets[args["as"]] = sockets[on]
    expect = _expect(where, raw["expect"]) if "expect" in raw else None
    return Step(on=on, call=call, args=args, expect=expect)


def _check_values(where: str, call: str, args: dict[str, Any], sockets: dict[str, str]) -> None:
    if call == "shutdown" and args["how"] not in SHUTDOWN_HOW:
        raise _fail(where, f"how must be one of {', '.join(SHUTDOWN_HOW)}, not {args['how']!r}")
    if call == "wait_wire":
        try:
            compile_pattern(args["pattern"])
        except PatternError as exc:
            raise _fail(where, f"wait_wire pattern: {exc}") from None
    if call == "set_linger" and not (0 <= args["onoff"] <= INT_MAX
                                     and 0 <= args["linger"] <= INT_MAX):
        raise _fail(where, f"set_linger takes onoff and linger from 0 to {INT_MAX}")
    if call == "wait_state" and args.get("connection", "client") not in sockets:
        raise _fail(where, f"wait_state: no client socket named {args['connection']!r}")
    if call == "wait_state" and args["state"] not in STATE_NAMES:
        raise _fail(where, f"unknown TCP state {args['state']!r} "
                           f"(known: {', '.join(STATE_NAMES)})")


def _steps(where: str, raw: Any, sockets: dict[str, str]) -> list[Step]:
    if not isinstance(raw, list) or not raw:
        raise _fail(where, "steps must be a non-empty list of tables")
    steps: list[Step] = []
    for i, item in enumerate(raw, 1):
        here = f"{where} step {i}"
        if not isinstance(item, dict):
            raise _fail(here, "a step is a table such as { on = \"client\", call = \"connect\" }")
        if "repeat" in item:
            count = item.get("repeat")
            if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1000:
                raise _fail(here, "repeat must be a whole number from 1 to 1000")
            inner = _steps(f"{here} (repeat)", item.get("steps"), sockets)
            steps.extend(inner * count)
        else:
            steps.append(_step(here, item, sockets))
    return steps


def _states(where: str, raw: Any) -> tuple[dict[str, str], dict[str, int]]:
    """Each side's final state, and the least each send queue must still hold.

    A side is a state name ("TIME-WAIT") or a table { state = "FIN-WAIT-1", min_send_q = 1 }.
    """
    if not isinstance(raw, dict) or not raw:
        raise _fail(where, "states must be a table such as { server = \"TIME-WAIT\" }")
    states, queued = {}, {}
    for side, value in raw.items():
        if side not in SIDES:
            raise _fail(where, f"states: unknown side {side!r} (client or server)")
        state = value
        if isinstance(value, dict):
            extra = set(value) - {"state", "min_send_q"}
            minimum = value.get("min_send_q", 0)
            if extra or not isinstance(minimum, int) or isinstance(minimum, bool):
                raise _fail(where, f"states.{side} takes state and min_send_q (a whole number)")
            state, queued[side] = value.get("state"), minimum
        if state not in STATE_NAMES:
            raise _fail(where, f"states.{side}: unknown TCP state {state!r} "
                               f"(known: {', '.join(STATE_NAMES)})")
        states[side] = state
    return states, queued


_LINK_KEYS = {"netem": str, "side": str, "drop_rst_from": str, "drop_rst_count": int}


def _link(where: str, raw: Any) -> dict[str, Any]:
    """The veth link a scenario needs: netem arguments (on `side`: both, client or server)
    and the first RSTs a side sends dropped (`drop_rst_from`, `drop_rst_count`)."""
    _check_table(where, raw, "link", _LINK_KEYS, "{ netem = \"delay 150ms\" }",
                 "link: unknown key")
    if raw.get("side", "both") not in ("both", *SIDES):
        raise _fail(where, "link.side must be both, client or server")
    if raw.get("drop_rst_from", "client") not in SIDES:
        raise _fail(where, "link.drop_rst_from must be client or server")
    if raw.get("drop_rst_count", 1) < 1:
        raise _fail(where, "link.drop_rst_count must be at least 1")
    return dict(raw)


def _text(where: str, data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"{key} is missing or empty")
    return value.strip()


def parse_scenario(text: str, where: str = "<scenario>") -> Scenario:
    """One scenario from TOML text; CatalogError names the place of any mistake."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(where, f"not valid TOML: {exc}") from None
    known = {"id", "title", "statement", "source", "pattern", "steps", "states", "families",
             "claims", "wireshark_warnings", "topologies", "link"}
    for key in data:
        if key not in known:
            raise _fail(where, f"unknown key {key!r} (known: {', '.join(sorted(known))})")
    pattern = _text(where, data, "pattern")
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        raise _fail(where, f"pattern: {exc}") from None
    families = tuple(data.get("families", FAMILIES))
    if not families or any(f not in FAMILIES for f in families):
        raise _fail(where, f"families must be a list drawn from {', '.join(FAMILIES)}")
    topologies = tuple(data.get("topologies", TOPOLOGIES))
    if not topologies or any(t not in TOPOLOGIES for t in topologies):
        raise _fail(where, f"topologies must be a list drawn from {', '.join(TOPOLOGIES)}")
    steps = tuple(_steps(where, data.get("steps"), {"client": "client", "server": "server"}))
    try:
        claims = parse_claims(where, data.get("claims"), [(s.on, s.call) for s in steps])
    except ClaimError as exc:
        raise CatalogError(str(exc)) from None
    states, queued = _states(where, data.get("states"))
    link = _link(where, data.get("link", {}))
    if link and topologies != ("veth",):
        raise _fail(where, "a scenario with a link runs on veth only: add "
                           "topologies = [\"veth\"]")
    warnings = data.get("wireshark_warnings", [])
    if not isinstance(warnings, list) or not all(isinstance(w, str) and w for w in warnings):
        raise _fail(where, "wireshark_warnings must be a list of non-empty strings (parts of "
                           "Wireshark's expert messages the scenario provokes)")
    return Scenario(
        id=_text(where, data, "id"), title=_text(where, data, "title"),
        statement=_text(where, data, "statement"), source=_text(where, data, "source"),
        pattern=pattern, steps=steps, states=states, families=families,
        topologies=topologies, claims=claims,
        min_send_q=queued, wireshark_warnings=tuple(warnings), link=link, path=where,
    )


def load_file(path: str | Path) -> Scenario:
    """One scenario from a TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read it ({exc.strerror})") from None
    return parse_scenario(text, str(path))


def load_catalog() -> list[Scenario]:
    """Every scenario shipped in harness/catalog, in file-name order; ids must be unique."""
    folder = resources.files("harness.catalog")
    scenarios = [load_file(Path(str(entry))) for entry in sorted(
        folder.iterdir(), key=lambda e: e.name) if entry.name.endswith(".toml")]
    seen: dict[str, str] = {}
    for sc in scenarios:
        if sc.id in seen:
            raise CatalogError(f"{sc.path}: id {sc.id!r} is also used by {seen[sc.id]}")
        seen[sc.id] = sc.path
    return scenarios


def find(scenarios: list[Scenario], ids: list[str]) -> list[Scenario]:
    """The scenarios with these ids, in the order asked; CatalogError for an unknown id."""
    by_id = {sc.id: sc for sc in scenarios}
    for wanted in ids:
        if wanted not in by_id:
            close = difflib.get_close_matches(wanted, list(by_id), n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(close)}?" if close else "no id is close to it"
            raise CatalogError(f"unknown scenario {wanted!r}; {hint} (`harness list` shows "
                               f"all {len(by_id)})")
    return [by_id[i] for i in ids]
