"""The loader refuses, before anything runs and in one line naming the step, every step of the
new calls that cannot do what it says: a misspelt option, poll event or MSG flag, an option
at the wrong level or of the other family, a bind after listen or connect, a dup of a socket
that does not exist, a call on a closed descriptor, an expectation the call cannot meet."""

from __future__ import annotations

import pytest

from harness.core.catalog import CatalogError, parse_scenario

SCENARIO = """
id = "x"
title = "t"
statement = "s"
source = "socket(7)"
pattern = ">S <S. >."
FAMILIES
steps = [STEPS]
states = { client = "ESTABLISHED" }
"""
LISTEN = '{ on = "server", call = "listen" }'
CONNECT = '{ on = "client", call = "connect" }'
ACCEPT = '{ on = "server", call = "accept" }'


def _scenario(*steps: str, families: str = "") -> str:
    return SCENARIO.replace("STEPS", ",\n  ".join(steps)).replace("FAMILIES", families)


def _client(step: str) -> str:
    return f'{{ on = "client", {step} }}'


GOOD = [
    (_client('call = "bind", port = 40000'), CONNECT),
    ('{ on = "server", call = "socket" }', '{ on = "server", call = "bind", port = 5000 }',
     LISTEN, CONNECT),
    (LISTEN, _client('call = "socket"'), _client('call = "bind", port = 0'), CONNECT),
    (LISTEN, CONNECT, _client('call = "dup", as = "c2"'), _client('call = "close"'),
     '{ on = "c2", call = "send", flags = ["MSG_NOSIGNAL"] }', '{ on = "c2", call = "close" }'),
    (LISTEN, CONNECT, _client('call = "disconnect"'), _client('call = "bind", port = 40001'),
     CONNECT),
    (LISTEN, CONNECT, _client('call = "setsockopt", name = "TCP_LINGER2", value = -1, '
                              'level = "IPPROTO_TCP", expect = { effective = -1 }'),
     _client('call = "getsockopt", name = "SO_ERROR", expect = { value = "ECONNRESET" }'),
     _client('call = "getsockopt", name = "SO_ERROR", expect = { value = 0 }'),
     _client('call = "tcp_info", expect = { state = "CLOSE", unacked = 0 }'),
     _client('call = "poll", events = ["POLLIN", "POLLRDHUP"], timeout = 0.5, '
             'expect = { revents = [], revents_include = [] }'),
     _client('call = "recv", bytes = 1, flags = ["MSG_PEEK", "MSG_DONTWAIT"]'),
     _client('call = "destroy"')),
]


@pytest.mark.parametrize("steps", GOOD, ids=range(len(GOOD)))
def test_steps_that_fit_load(steps: tuple[str, ...]) -> None:
    assert parse_scenario(_scenario(*steps), "my.toml").steps


REFUSED = {
    "an option misspelt": (
        (LISTEN, CONNECT, _client('call = "setsockopt", name = "TCP_NODELY", value = 1')),
        "my.toml step 3: setsockopt name: 'TCP_NODELY' is not a socket option the harness "
        "knows; did you mean TCP_NODELAY?"),
    "an option at the wrong level": (
        (LISTEN, CONNECT, _client('call = "getsockopt", name = "SO_KEEPALIVE", '
                                  'level = "IPPROTO_TCP"')),
        "my.toml step 3: getsockopt: SO_KEEPALIVE is an SOL_SOCKET option, not IPPROTO_TCP: "
        "write level = \"SOL_SOCKET\" or leave level out"),
    "a level that does not exist": (
        (LISTEN, CONNECT, _client('call = "getsockopt", name = "TCP_NODELAY", level = "SOL_TCP"')),
        "my.toml step 3: level must be one of SOL_SOCKET, IPPROTO_IP, IPPROTO_TCP, IPPROTO_IPV6, "
        "not 'SOL_TCP'"),
    "SO_LINGER by setsockopt": (
        (LISTEN, CONNECT, _client('call = "setsockopt", name = "SO_LINGER", value = 1')),
        "my.toml step 3: setsockopt name: SO_LINGER is set by its own call: use set_linger"),
    "an option that is only read": (
        (LISTEN, CONNECT, _client('call = "setsockopt", name = "SO_ERROR", value = 0')),
        "my.toml step 3: setsockopt name: SO_ERROR can only be read: use getsockopt"),
    "a value that is not an integer": (
        (LISTEN, CONNECT, _client('call = "setsockopt", name = "TCP_NODELAY", value = true')),
        "my.toml step 3: value must be a int, not True"),
    "an IPv6 option on ipv4": (
        (LISTEN, CONNECT, _client('call = "setsockopt", name = "IPV6_TCLASS", value = 8')),
        "my.toml step 3 (client.setsockopt(IPV6_TCLASS, 8)): IPV6_TCLASS is an IPPROTO_IPV6 "
        "option (of ipv6 sockets), and the scenario runs on ipv4 too: write families = "
        "[\"ipv6\"]"),
    "SO_ERROR expected as a number": (
        (LISTEN, CONNECT, _client('call = "getsockopt", name = "SO_ERROR", '
                                  'expect = { value = 104 }')),
        "my.toml step 3 (client.getsockopt(SO_ERROR)): expect value: SO_ERROR reads as an "
        "errno name: write value = \"ECONNRESET\" (say), or 0 for no error"),
    "an integer option expected as a name": (
        (LISTEN, CONNECT, _client('call = "getsockopt", name = "TCP_NODELAY", '
                                  'expect = { value = "ECONNRESET" }')),
        "TCP_NODELAY reads as an integer, not 'ECONNRESET'"),
    "an errno misspelt in value": (
        (LISTEN, CONNECT, _client('call = "getsockopt", name = "SO_ERROR", '
                                  'expect = { value = "ECONNRESETT" }')),
        "my.toml step 3: expect: value = 'ECONNRESETT' is not an errno name"),
    "a bind after connect": (
        (LISTEN, CONNECT, _client('call = "bind", port = 40000')),
        "my.toml step 3 (client.bind(40000)): bind comes before listen or connect, and once: "
        "'client' is connected since step 2 (client.connect()); move the bind before that"),
    "a bind after listen": (
        (LISTEN, '{ on = "server", call = "bind", port = 5000 }'),
        "my.toml step 2 (server.bind(5000)): bind comes before listen or connect, and once: "
        "'server' is listening since step 1 (server.listen())"),
    "a second bind": (
        (_client('call = "bind", port = 40000'), _client('call = "bind", port = 40001')),
        "'client' is bound since step 1 (client.bind(40000))"),
    "an address that is not one": (
        (_client('call = "bind", port = 1, address = "localhost"'),),
        "my.toml step 1: bind address: 'localhost' is not an IPv4 or IPv6 address; leave "
        "address out for the family's wildcard address"),
    "an address of the other family": (
        (_client('call = "bind", port = 1, address = "127.0.0.1"'),),
        "my.toml step 1 (client.bind(1, 127.0.0.1)): address 127.0.0.1 is an ipv4 address, "
        "and the scenario runs on ipv6 too"),
    "a dup of no socket": (
        (LISTEN, _client('call = "dup", as = "c2"')),
        "my.toml step 2 (client.dup(c2)): 'client' holds no socket yet: make it first "
        "(socket, bind, listen, connect)"),
    "a dup onto an open name": (
        (LISTEN, CONNECT, ACCEPT, _client('call = "dup", as = "conn"')),
        "my.toml step 4 (client.dup(conn)): a socket named 'conn' is open already (since step 3 "
        "(server.accept())): give dup another name"),
    "a dup with no name": (
        (LISTEN, CONNECT, _client('call = "dup"')), "my.toml step 3: dup needs as"),
    "a call on a closed descriptor": (
        (LISTEN, CONNECT, _client('call = "close"'), _client('call = "poll", events = ["POLLIN"]')),
        "my.toml step 4 (client.poll(POLLIN)): 'client' was closed by step 3 (client.close())"),
    "a poll for POLLERR": (
        (LISTEN, CONNECT, _client('call = "poll", events = ["POLLIN", "POLLERR"]')),
        "my.toml step 3: poll events: POLLERR is always reported, asked for or not: leave it "
        "out of events"),
    "a poll for nothing": (
        (LISTEN, CONNECT, _client('call = "poll", events = []')),
        "poll events: events names at least one event"),
    "a poll event misspelt": (
        (LISTEN, CONNECT, _client('call = "poll", events = ["POLLRDHUB"]')),
        "'POLLRDHUB' is not a poll event the harness knows; did you mean POLLRDHUP?"),
    "revents misspelt": (
        (LISTEN, CONNECT, _client('call = "poll", events = ["POLLIN"], '
                                  'expect = { revents_include = ["POLLHUB"] }')),
        "my.toml step 3: expect: revents_include: 'POLLHUB' is not a poll event"),
    "revents of a call that does not poll": (
        (LISTEN, CONNECT, _client('call = "close", expect = { revents = ["POLLIN"] }')),
        "my.toml step 3 (client.close()): expect revents: close reports no revents (only poll "
        "can be expected to)"),
    "a tcp_info field of another call": (
        (LISTEN, CONNECT, _client('call = "close", expect = { state = "CLOSE" }')),
        "expect state: close reports no state (only tcp_info can be expected to)"),
    "CLOSED from tcp_info": (
        (LISTEN, CONNECT, _client('call = "tcp_info", expect = { state = "CLOSED" }')),
        "expect: state = 'CLOSED' is not a state tcp_info reads: a socket its descriptor still "
        "holds is in CLOSE"),
    "a recv flag on send": (
        (LISTEN, CONNECT, _client('call = "send", flags = ["MSG_PEEK"]')),
        "my.toml step 3: send flags: MSG_PEEK is a flag of recv, not of send"),
    "a flag misspelt": (
        (LISTEN, CONNECT, _client('call = "recv", bytes = 1, flags = ["MSG_WAITAL"]')),
        "'MSG_WAITAL' is not a MSG flag the harness knows; did you mean MSG_WAITALL?"),
    "flags not a list": (
        (LISTEN, CONNECT, _client('call = "recv", bytes = 1, flags = "MSG_PEEK"')),
        "my.toml step 3: flags must be a list, not 'MSG_PEEK'"),
    "a socket made twice": (
        (LISTEN, CONNECT, _client('call = "socket"')),
        "my.toml step 3 (client.socket()): socket cannot come once 'client' is connected"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_each_mistake_is_one_line_naming_the_step(case: str) -> None:
    steps, said = REFUSED[case]
    families = 'families = ["ipv4", "ipv6"]'
    with pytest.raises(CatalogError) as refused:
        parse_scenario(_scenario(*steps, families=families), "my.toml")
    message = str(refused.value)
    assert said in message
    assert message.startswith("my.toml step ") and "\n" not in message


def test_a_family_of_its_own_allows_its_options_and_addresses() -> None:
    steps = (_client('call = "bind", port = 1, address = "::1"'),
             _client('call = "setsockopt", name = "IPV6_TCLASS", value = 8'))
    assert parse_scenario(_scenario(*steps, families='families = ["ipv6"]'))
