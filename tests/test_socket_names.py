"""The tables of the kernel's names (harness/core/socket_names.py) hold Linux's numbers, and
the calls that take them refuse a name that does not fit in one line, in a scenario file and
from a test's handle alike."""

from __future__ import annotations

import select
import socket

import pytest

from harness.core.calls import CALLS
from harness.core.errors import UsageError
from harness.core.socket_names import (
    LEVELS,
    MSG_FLAGS,
    OPTIONS,
    POLL_EVENTS,
    STORY_OPTIONS,
    bits,
    revents_names,
)
from harness.lab.peer import SocketHandle


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_each_option_has_linuxs_number(name: str) -> None:
    if not hasattr(socket, name):
        pytest.skip(f"Python's socket module does not name {name}")
    assert OPTIONS[name].number == getattr(socket, name)


@pytest.mark.parametrize("name", sorted(LEVELS))
def test_each_level_has_linuxs_number(name: str) -> None:
    assert LEVELS[name] == getattr(socket, name)


@pytest.mark.parametrize("name", sorted(POLL_EVENTS))
def test_each_poll_event_has_linuxs_bit(name: str) -> None:
    assert POLL_EVENTS[name].bit == getattr(select, name)


@pytest.mark.parametrize("name", sorted(MSG_FLAGS))
def test_each_msg_flag_has_linuxs_bit(name: str) -> None:
    assert MSG_FLAGS[name].bit == getattr(socket, name)


def test_the_options_the_brief_names_can_be_set() -> None:
    wanted = {"SO_REUSEADDR", "SO_REUSEPORT", "SO_KEEPALIVE", "SO_RCVLOWAT", "SO_SNDLOWAT",
              "TCP_NODELAY", "TCP_CORK", "TCP_QUICKACK", "TCP_USER_TIMEOUT", "TCP_LINGER2",
              "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_MAXSEG", "TCP_NOTSENT_LOWAT",
              "TCP_DEFER_ACCEPT", "TCP_SYNCNT"}
    assert {name for name in wanted if OPTIONS[name].settable and OPTIONS[name].use is None} \
        == wanted
    assert {"TCP_LINGER2", "TCP_CORK", "TCP_USER_TIMEOUT"} == STORY_OPTIONS


def test_revents_are_named_in_the_tables_order() -> None:
    mask = bits(["POLLRDHUP", "POLLIN", "POLLHUP"], POLL_EVENTS)
    assert revents_names(mask) == ["POLLIN", "POLLHUP", "POLLRDHUP"]
    assert revents_names(0) == []
    assert bits(["MSG_PEEK", "MSG_DONTWAIT"], MSG_FLAGS) == 0x42


def test_the_setting_setsockopt_makes_is_named_by_its_option() -> None:
    setting = CALLS["setsockopt"].setting
    assert setting is not None
    assert setting.label({"name": "TCP_LINGER2", "value": 0}) == "TCP_LINGER2"
    assert setting.label({"name": "TCP_NODELAY", "value": 1}) is None  # changes no close
    assert setting.shown({"name": "TCP_LINGER2", "value": 0}, {"effective": 60}) == "60"
    assert setting.shown({"name": "TCP_LINGER2", "value": 5}) == "5"


@pytest.mark.parametrize(("call", "args", "keywords", "said"), [
    ("setsockopt", ("TCP_NODELY", 1), {}, "setsockopt(): setsockopt name: 'TCP_NODELY' is not a "
                                         "socket option the harness knows; did you mean "
                                         "TCP_NODELAY?"),
    ("setsockopt", ("TCP_NODELAY", 1), {"level": "SOL_SOCKET"},
     "setsockopt(): TCP_NODELAY is an IPPROTO_TCP option, not SOL_SOCKET"),
    ("setsockopt", ("SO_LINGER", 1), {}, "SO_LINGER is set by its own call: use set_linger"),
    ("setsockopt", ("TCP_LINGER2", 2**31), {}, "setsockopt takes value from -2147483648"),
    ("getsockopt", ("TCP_INFO",), {}, "TCP_INFO is not an integer getsockopt reads (tcp_info "
                                      "reads it)"),
    ("poll", (["POLLHUP"],), {}, "POLLHUP is always reported, asked for or not"),
    ("poll", (["POLLIN"], -1), {}, "poll takes timeout from 0"),
    ("send", (1,), {"flags": ["MSG_PEEK"]}, "send flags: MSG_PEEK is a flag of recv, not of send"),
    ("recv", (1,), {"flags": ["MSG_NOSIGNAL"]}, "MSG_NOSIGNAL is a flag of send, not of recv"),
    ("bind", (70000,), {}, "bind takes port from 0 to 65535"),
    ("bind", (4000, "localhost"), {}, "'localhost' is not an IPv4 or IPv6 address"),
    ("dup", (), {}, "missing a required argument: 'name'"),
])
def test_a_handle_refuses_a_name_that_does_not_fit(call: str, args: tuple, keywords: dict,
                                                  said: str) -> None:
    handle = SocketHandle.__new__(SocketHandle)  # refused before anything reaches a peer
    with pytest.raises(UsageError) as refused:
        getattr(handle, call)(*args, **keywords)
    assert said in str(refused.value)
    assert "\n" not in str(refused.value)
