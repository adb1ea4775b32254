"""Reading scenarios from TOML: the shipped catalog and the user's own files, every mistake
refused with the file and the place before anything runs."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from harness.core import catalog_cache
from harness.core.call_spec import (
    Arg,
    CallSpec,
    Opens,
    Target,
    args_problem,
    renamed_hint,
    type_problem,
    value_problem,
)
from harness.core.calls import CALLS
from harness.core.claims import ClaimError, parse_claims
from harness.core.display_filter import DisplayFilterError, parse_display_filters
from harness.core.errors import UserError, closest, quoted
from harness.core.expect import EXPECT_KEYS, Expect, named_value_problem
from harness.core.link import Link, LinkError, parse_link
from harness.core.pattern import PatternError, compile_pattern
from harness.core.scenario import Scenario, Step
from harness.core.sources import UnknownSeed, expand_source
from harness.core.step_checks import StepProblem, check_steps
from harness.core.sysctls import SysctlError, parse_sysctls
from harness.core.values import FrozenMap
from harness.core.vocabulary import FAMILIES, SIDES, STATE_NAMES, TOPOLOGIES

#: Where the shipped scenarios are: harness/catalog, beside this package (data, not code).
CATALOG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "catalog")
#: The most steps a scenario may have once its repeats are unrolled.
MAX_STEPS = 10_000
_KEYS = ("id", "title", "statement", "source", "pattern", "steps", "states", "families",
         "claims", "wireshark_warnings", "topologies", "link", "display_filters", "sysctls")


class CatalogError(UserError, ValueError):
    """A scenario file is not valid; the message names the file and the place."""


#: The keys of a step that are not its call's arguments.
STEP_KEYS = ("on", "call", "expect")


def _fail(where: str, message: str) -> CatalogError:
    return CatalogError(f"{where}: {message}")


def _check_type(where: str, key: str, value: Any, kinds: tuple[type, ...]) -> None:
    problem = type_problem(key, value, kinds)
    if problem:
        raise _fail(where, problem)


def _check_table(where: str, raw: Any, name: str, known: dict[str, tuple[type, ...]],
                 example: str, unknown: str) -> dict[str, Any]:
    """A TOML table whose keys all come from known (key -> types), each of its type."""
    if not isinstance(raw, dict):
        raise _fail(where, f"{name} must be a table such as {example}")
    for key, value in raw.items():
        if key not in known:
            raise _fail(where, f"{unknown} {key!r}{_did_you_mean(key, known)} (known: "
                               f"{', '.join(known)})")
        _check_type(where, f"{name}.{key}", value, known[key])
    return raw


def _did_you_mean(word: str, words: Any) -> str:
    near = closest(word, list(words))
    return f"; did you mean {near[0]}?" if near else ""


def _expect(where: str, raw: Any) -> Expect:
    kinds = {k: v if isinstance(v, tuple) else (v,) for k, v in EXPECT_KEYS.items()}
    table = _check_table(where, raw, "expect", kinds, "{ ret = 0 }", "unknown expectation")
    for key, value in table.items():
        problem = named_value_problem(key, value)
        if problem:
            raise _fail(where, f"expect: {problem}")
    return Expect(**table)


def _known_call(where: str, call: Any) -> CallSpec:
    if not isinstance(call, str):
        raise _fail(where, f"call must name a call, as a string such as \"connect\", not "
                           f"{quoted(call)}")
    if call not in CALLS:
        close = closest(call, list(CALLS))
        hint = f"; did you mean {close[0]}?" if close else ""
        raise _fail(where, f"unknown call {quoted(call)}{hint} (known: {', '.join(CALLS)})")
    return CALLS[call]


def _target(where: str, spec: CallSpec, on: Any, sockets: dict[str, str]) -> str:
    """What the step acts on, checked against what its call runs on."""
    if spec.target is Target.SIDE:
        if on not in SIDES:
            raise _fail(where, f"{spec.name} takes on = \"client\" or \"server\", not {quoted(on)}")
        return on
    if spec.target is Target.WIRE:
        if on not in (None, "wire"):
            raise _fail(where, f"{spec.name} watches the wire: leave out on, or write "
                               "on = \"wire\"")
        return "wire"
    if not isinstance(on, str):
        raise _fail(where, f"on must name a socket, as a string such as \"client\", not "
                           f"{quoted(on)} (known: {', '.join(sockets)})")
    if on not in sockets:
        raise _fail(where, f"no socket named {quoted(on)} yet (known: {', '.join(sockets)})")
    return on


def _argument(where: str, spec: CallSpec, arg: Arg, value: Any, sockets: dict[str, str]) -> None:
    """One argument's type, range and meaning."""
    problem = value_problem(spec, arg, value)
    if problem:
        raise _fail(where, problem)
    if arg.pattern:
        try:
            compile_pattern(value)
        except PatternError as exc:
            raise _fail(where, f"{spec.name} pattern: {exc}") from None
    if arg.names and sockets.get(value) != "client":
        whose = " (it is the server's: a connection is named by its client socket)" if (
            value in sockets) else ""
        raise _fail(where, f"{spec.name}: no client socket named {quoted(value)}{whose}")


def _step(where: str, raw: dict[str, Any], sockets: dict[str, str]) -> Step:
    spec = _known_call(where, raw.get("call"))
    on = _target(where, spec, raw.get("on"), sockets)
    args = {k: v for k, v in raw.items() if k not in STEP_KEYS}
    for key, value in args.items():
        arg = spec.arg(key)
        if arg is None:
            hint = renamed_hint(spec, key)
            if hint:
                raise _fail(where, hint)
            known = ", ".join(spec.arg_names) or "none"
            hint = _did_you_mean(key, (*spec.arg_names, *STEP_KEYS))
            raise _fail(where, f"{spec.name} takes no argument {key!r}{hint} (it takes: "
                               f"{known})")
        _argument(where, spec, arg, value, sockets)
    for arg in spec.args:
        if arg.required and arg.name not in args:
            raise _fail(where, f"{spec.name} needs {arg.name}")
    problem = args_problem(spec, args)
    if problem:
        raise _fail(where, f"{spec.name}: {problem}")
    _name_sockets(where, spec, on, args, sockets)
    expect = _expect(where, raw["expect"]) if "expect" in raw else None
    return Step(on=on, call=spec.name, args=FrozenMap(args), expect=expect)


def _name_sockets(where: str, spec: CallSpec, on: str, args: dict[str, Any],
                  sockets: dict[str, str]) -> None:
    """Record the socket name a step gives (accept's connection, connect's own name)."""
    name = spec.opened(args)
    if name is None:
        return
    if spec.opens is Opens.ITSELF and name in sockets:
        raise _fail(where, f"a socket named {name!r} exists already")
    sockets[name] = sockets[on]


def _steps(where: str, raw: Any, sockets: dict[str, str]) -> list[Step]:
    if not isinstance(raw, list) or not raw:
        raise _fail(where, "steps must be a non-empty list of tables")
    steps: list[Step] = []
    for i, item in enumerate(raw, 1):
        here = f"{where} step {i}"
        if not isinstance(item, dict):
            raise _fail(here, "a step is a table such as { on = \"client\", call = \"connect\" }")
        if "repeat" in item:
            steps.extend(_repeat(here, item, sockets))
        else:
            steps.append(_step(here, item, sockets))
        if len(steps) > MAX_STEPS:
            raise _fail(here, f"the steps number {len(steps):,} once repeats are unrolled; a "
                              f"scenario may have at most {MAX_STEPS:,}")
    return steps


def _repeat(where: str, item: dict[str, Any], sockets: dict[str, str]) -> list[Step]:
    count = item.get("repeat")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1000:
        raise _fail(where, "repeat must be a whole number from 1 to 1000")
    extra = set(item) - {"repeat", "steps"}
    if extra:
        raise _fail(where, f"a repeat takes repeat and steps, not {', '.join(sorted(extra))}")
    inner = _steps(f"{where} (repeat)", item.get("steps"), sockets)
    if len(inner) * count > MAX_STEPS:
        raise _fail(where, f"repeat = {count} of {len(inner):,} steps makes "
                           f"{len(inner) * count:,}; a scenario may have at most {MAX_STEPS:,}")
    return inner * count


def _states(where: str, raw: Any) -> tuple[FrozenMap, FrozenMap]:
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
        if not isinstance(state, str) or state not in STATE_NAMES:
            hint = _did_you_mean(state, STATE_NAMES) if isinstance(state, str) else ""
            raise _fail(where, f"states.{side}: unknown TCP state {quoted(state)}{hint} "
                               f"(known: {', '.join(STATE_NAMES)})")
        states[side] = state
    return FrozenMap(states), FrozenMap(queued)


def _part(where: str, parse: Callable[[Any], Any], raw: Any) -> Any:
    """A part of the scenario its own module reads (the link, the sysctls, the display
    filters), its UserError made this file's."""
    try:
        return parse(raw)
    except (LinkError, SysctlError, DisplayFilterError) as exc:
        raise _fail(where, str(exc)) from None


def _text(where: str, data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"{key} is missing or empty")
    return value.strip()


def _source(where: str, data: dict[str, Any]) -> str:
    """The scenario's source, each seed text it cites described (harness.core.sources)."""
    try:
        return expand_source(_text(where, data, "source"))
    except UnknownSeed as exc:
        raise _fail(where, str(exc)) from None


def _names(where: str, data: dict[str, Any], key: str, known: tuple[str, ...]) -> tuple[str, ...]:
    """A list of names drawn from known (families, topologies); all of them when left out."""
    value = data.get(key, list(known))
    if (not isinstance(value, list) or not value
            or any(not isinstance(v, str) or v not in known for v in value)):
        raise _fail(where, f"{key} must be a list drawn from {', '.join(known)}, such as "
                           f"{key} = [\"{known[0]}\"]; not {quoted(value)}")
    return tuple(value)


def _toml(text: str, where: str) -> dict[str, Any]:
    import tomllib  # a command that finds the catalog kept (catalog_cache) never needs it

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(where, f"not valid TOML: {exc}{_renamed_near(text, str(exc))}") from None
    except RecursionError:
        raise _fail(where, "not valid TOML for a scenario: arrays or tables nested too deep "
                           "to read") from None
    except ValueError as exc:  # tomllib's int(): a number of more than 4,300 digits
        raise _fail(where, f"not valid TOML for a scenario: {' '.join(str(exc).split())[:80]} "
                           "(a number far too long to be one a scenario takes)") from None


def _renamed_near(text: str, error: str) -> str:
    """A hint when tomllib refuses a key written twice and that key is a call's old argument
    name (the old `on` of set_nonblocking clashes with the step's own `on`)."""
    found = re.search(r"at line (\d+)", error)
    if not found:
        return ""
    lines = text.splitlines()
    line = int(found[1])
    at = lines[line - 1] if 0 < line <= len(lines) else ""
    inline = re.search(r"Duplicate inline table key '(\w+)'", error)
    near = "\n".join(lines[max(0, line - 4):line])
    for spec in CALLS.values():
        for old, _new, _why in spec.renamed:
            twice = (inline is not None and inline[1] == old) or (
                "Cannot overwrite a value" in error and re.match(rf"\s*{old}\s*=", at))
            if twice and f'"{spec.name}"' in near:
                return f"; {renamed_hint(spec, old)}"
    return ""


def parse_scenario(text: str, where: str = "<scenario>") -> Scenario:
    """One scenario from TOML text; CatalogError names the place of any mistake."""
    data = _toml(text, where)
    for key in data:
        if key not in _KEYS:
            raise _fail(where, f"unknown key {key!r}{_did_you_mean(key, _KEYS)} (known: "
                               f"{', '.join(sorted(_KEYS))})")
    pattern = _text(where, data, "pattern")
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        raise _fail(where, f"pattern: {exc}") from None
    families = _names(where, data, "families", FAMILIES)
    topologies = _names(where, data, "topologies", TOPOLOGIES)
    steps = tuple(_steps(where, data.get("steps"), {"client": "client", "server": "server"}))
    try:
        check_steps(steps, families)
    except StepProblem as exc:
        raise CatalogError(f"{where} {exc}") from None
    try:
        claims = parse_claims(where, data.get("claims"), [(s.on, s.call) for s in steps])
    except ClaimError as exc:
        raise CatalogError(str(exc)) from None
    states, queued = _states(where, data.get("states"))
    link: Link | None = _part(where, parse_link, data.get("link"))
    if link is not None and topologies != ("veth",):
        raise _fail(where, "a scenario with a link runs on veth only: add "
                           "topologies = [\"veth\"]")
    warnings = data.get("wireshark_warnings", [])
    if not isinstance(warnings, list) or not all(isinstance(w, str) and w for w in warnings):
        raise _fail(where, "wireshark_warnings must be a list of non-empty strings (parts of "
                           "Wireshark's expert messages the scenario provokes)")
    return Scenario(
        id=_text(where, data, "id"), title=_text(where, data, "title"),
        statement=_text(where, data, "statement"), source=_source(where, data),
        pattern=pattern, steps=steps, states=states, families=families,
        topologies=topologies, claims=claims, min_send_q=queued,
        wireshark_warnings=tuple(warnings), link=link, path=where,
        display_filters=_part(where, parse_display_filters, data.get("display_filters", [])),
        sysctls=_part(where, parse_sysctls, data.get("sysctls", {})),
    )


def load_file(path: str | os.PathLike[str]) -> Scenario:
    """One scenario from a TOML file."""
    path = os.fspath(path)
    return _from_bytes(path, _read(path))


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read it ({exc.strerror})") from None


def _from_bytes(path: str, data: bytes) -> Scenario:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded); a "
                           "scenario file is TOML, saved as UTF-8") from None
    return parse_scenario(text, path)


def load_catalog() -> list[Scenario]:
    """Every scenario shipped in harness/catalog, in file-name order; ids must be unique.
    Kept once checked, for the next command (harness.core.catalog_cache)."""
    names = sorted(name for name in os.listdir(CATALOG) if name.endswith(".toml"))
    files = [(path, _read(path)) for path in (os.path.join(CATALOG, n) for n in names)]
    kept = catalog_cache.read(files)
    if isinstance(kept, list) and all(isinstance(sc, Scenario) for sc in kept):
        return kept
    scenarios = [_from_bytes(path, data) for path, data in files]
    seen: dict[str, str] = {}
    for sc in scenarios:
        if sc.id in seen:
            raise CatalogError(f"{sc.path}: id {sc.id!r} is also used by {seen[sc.id]}")
        seen[sc.id] = sc.path
    catalog_cache.write(files, scenarios)
    return scenarios


def find(scenarios: list[Scenario], ids: list[str]) -> list[Scenario]:
    """The scenarios with these ids, in the order asked; CatalogError for an unknown id."""
    by_id = {sc.id: sc for sc in scenarios}
    for wanted in ids:
        if wanted not in by_id:
            close = closest(wanted, list(by_id), 3, cutoff=0.5)
            hint = f"did you mean {' or '.join(close)}?" if close else "no id is close to it"
            raise CatalogError(f"unknown scenario {wanted!r}; {hint} (`harness list` shows "
                               f"all {len(by_id)})")
    return [by_id[i] for i in ids]
