"""The table of calls is the one place a call is declared: the agent's operations, the
runner's own waits, the peer handle's methods, the loader, the annotator and the claims all
follow it, and the README names every call."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from harness.core.calls import (
    CALLS,
    WITHIN,
    Emits,
    Moves,
    Runner,
    Target,
    agent_args,
    calls_that,
)
from harness.core.catalog import CatalogError, parse_scenario
from harness.core.decide import RECV_CALLS, SEND_CALLS
from harness.lab.child_peer_agent import CONTROL_OPS, Agent
from harness.lab.peer import SocketHandle
from harness.orchestration.runner import LAB_CALLS
from harness.pcap.annotate import EMITTING

ROOT = Path(__file__).resolve().parent.parent
AGENT_CALLS = [name for name, spec in CALLS.items() if spec.runner is Runner.AGENT]
SOCKET_CALLS = [name for name, spec in CALLS.items() if spec.target is Target.SOCKET]


def _agent_parameters(name: str) -> set[str]:
    """What the table says the agent's operation takes."""
    spec = CALLS[name]
    taken = set(agent_args(spec, {a.name: a.default or 1 for a in spec.args}))
    taken |= {"name", *spec.addressed}
    if spec.arg(WITHIN.name) is not None:
        taken.add(WITHIN.name)
    return taken


@pytest.mark.parametrize("name", [n for n in AGENT_CALLS if n not in CONTROL_OPS])
def test_each_agent_call_has_an_operation_taking_the_tables_arguments(name: str) -> None:
    operation = getattr(Agent, f"op_{name}", None)
    assert operation is not None, f"the peer agent has no op_{name}"
    parameters = set(inspect.signature(operation).parameters) - {"self"}
    assert parameters == _agent_parameters(name)


def test_every_operation_of_the_agent_is_a_call_of_the_table() -> None:
    operations = {n.removeprefix("op_") for n in dir(Agent) if n.startswith("op_")}
    assert operations | set(CONTROL_OPS) == set(AGENT_CALLS)


def test_the_lab_makes_exactly_the_calls_the_table_gives_it() -> None:
    assert set(LAB_CALLS) == {n for n, s in CALLS.items() if s.runner is Runner.LAB}


# The Python API of a socket handle, as tests and the README use it.
SIGNATURES = {
    "socket": "()", "bind": "(port, address=None)", "listen": "(backlog=16)",
    "connect": "(name=None, *, deadline=None)", "accept": "(name='conn', *, deadline=None)",
    "dup": "(name)", "send": "(bytes=1, *, text=None, flags=None, deadline=None)",
    "recv": "(bytes, *, flags=None, deadline=None)",
    "drain": "(*, deadline=None)", "fill": "(*, within=5.0)",
    "set_linger": "(onoff, linger)", "set_nonblocking": "(enabled=True)",
    "set_rcvbuf": "(size)", "set_sndbuf": "(size)", "setsockopt": "(name, value, *, level=None)",
    "getsockopt": "(name, *, level=None)", "tcp_info": "()", "poll": "(events, timeout=0)",
    "shutdown": "(how)", "close": "(*, deadline=None)", "disconnect": "()", "destroy": "()",
    "exit": "(code=0)", "kill": "()", "collect": "()",
    "wait_acked": "(*, within=5.0)", "wait_inq": "(bytes, *, within=5.0)",
}


def test_the_peer_handle_has_a_method_for_each_socket_call_and_no_other() -> None:
    assert set(SOCKET_CALLS) == set(SIGNATURES)
    for name, wanted in SIGNATURES.items():
        method = getattr(SocketHandle, name)
        assert str(inspect.signature(method)).replace("(self, ", "(").replace(
            "(self)", "()") == wanted, name
        assert method.__doc__ and CALLS[name].doc[1:] in method.__doc__


@pytest.mark.parametrize(("call", "args", "said"), [
    ("send", (b"abc", 2.0), "send(bytes=1, *, text=None, flags=None, deadline=None): too many "
                            "positional"),
    ("recv", (2**40,), "recv takes bytes from 0 to 16777216"),
    ("shutdown", ("SHUT_WRX",), "how must be one of SHUT_RD, SHUT_WR, SHUT_RDWR"),
    ("connect", (2.0,), "as must be a str, not 2.0"),
    ("set_linger", (1,), "missing a required argument: 'linger'"),
    ("set_nonblocking", ("yes",), "enabled must be a bool"),
])
def test_a_handle_refuses_what_the_table_refuses(call: str, args: tuple, said: str) -> None:
    from harness.core.errors import UsageError

    handle = SocketHandle.__new__(SocketHandle)  # refused before anything reaches a peer
    with pytest.raises(UsageError) as refused:
        getattr(handle, call)(*args)
    assert said in str(refused.value)


def test_the_old_keywords_of_the_handle_name_the_new_ones() -> None:
    from harness.core.errors import UsageError

    handle = SocketHandle.__new__(SocketHandle)
    with pytest.raises(UsageError, match=r"recv takes bytes \(its argument size was renamed"):
        handle.recv(size=10)  # type: ignore[attr-defined]


def test_what_annotate_and_claims_count_comes_from_the_table() -> None:
    assert {"connect", "send", "recv", "drain", "fill", "shutdown", "close", "disconnect",
            "destroy", "exit", "kill"} == EMITTING
    assert SEND_CALLS == calls_that(Moves.WRITES) == {"send", "fill"}
    assert RECV_CALLS == calls_that(Moves.READS) == {"recv", "drain"}
    assert {Emits.FIN, Emits.RST} <= CALLS["close"].emits


STEP = """
id = "x"
title = "t"
statement = "s"
source = "socket(7)"
pattern = ">S <S. >."
steps = [{ on = "server", call = "listen" }, { on = "client", call = "connect" }, STEP]
states = { client = "ESTABLISHED" }
"""


@pytest.mark.parametrize("name", SOCKET_CALLS)
def test_the_loader_refuses_an_argument_the_table_does_not_give(name: str) -> None:
    step = f'{{ on = "client", call = "{name}", colour = 1 }}'
    with pytest.raises(CatalogError, match=f"{name} takes no argument 'colour'"):
        parse_scenario(STEP.replace("STEP", step))


@pytest.mark.parametrize("name", [n for n in SOCKET_CALLS
                                  if any(a.required for a in CALLS[n].args)])
def test_the_loader_asks_for_each_required_argument(name: str) -> None:
    step = f'{{ on = "client", call = "{name}" }}'
    required = next(a.name for a in CALLS[name].args if a.required)
    with pytest.raises(CatalogError, match=f"{name} needs {required}"):
        parse_scenario(STEP.replace("STEP", step))


@pytest.mark.parametrize("step", [
    '{ on = "client", call = "set_nonblocking", on = false }',
    '{ on = "client", call = "set_nonblocking", enabled = true, on = false }'])
def test_the_old_spelling_of_set_nonblocking_names_the_new_one(step: str) -> None:
    good = '{ on = "client", call = "set_nonblocking", enabled = false }'
    assert parse_scenario(STEP.replace("STEP", good)).steps[2].args == {"enabled": False}
    with pytest.raises(CatalogError, match="set_nonblocking takes enabled \\(its argument on "
                                           "was renamed"):
        parse_scenario(STEP.replace("STEP", step))


def test_the_old_spelling_in_a_table_of_steps_names_the_new_one() -> None:
    header = STEP[:STEP.index("steps = [")] + 'states = { client = "ESTABLISHED" }\n'
    steps = "".join(f'[[steps]]\non = "{on}"\ncall = "{call}"\n' for on, call in
                    (("server", "listen"), ("client", "connect"), ("client", "set_nonblocking")))
    with pytest.raises(CatalogError, match=r"line 17.*set_nonblocking takes enabled"):
        parse_scenario(header + steps + "on = false\n")


def test_the_old_keyword_in_python_names_the_new_one() -> None:
    from harness.core.errors import UsageError

    handle = SocketHandle.__new__(SocketHandle)
    with pytest.raises(UsageError, match="set_nonblocking takes enabled"):
        handle.set_nonblocking(on=False)  # type: ignore[attr-defined]


def test_the_readme_names_every_call() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Writing a scenario"):readme.index("## The pattern language")]
    missing = [name for name in CALLS if f"`{name}`" not in section]
    assert not missing, f"README's 'Writing a scenario' does not name {missing}"
