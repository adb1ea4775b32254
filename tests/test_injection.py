"""Crafting an injected segment from what the capture has seen (harness.core.injection)."""

from __future__ import annotations

import pytest

from harness.core.conversation import split_conversations
from harness.core.injection import InjectError, craft, next_seq
from harness.core.notation import ACK, FIN, PSH, RST, SYN
from harness.core.segment import Segment

C, S = ("10.0.0.1", 40000), ("10.0.0.2", 5000)
ISN_C, ISN_S = 1000, 2**32 - 10  # the server's numbers wrap around


def _seg(i: int, src, dst, flags: int, seq: int, ack: int = 0, length: int = 0,
         win: int = 64) -> Segment:
    return Segment(time=i / 100, family="ipv4", src=src[0], sport=src[1], dst=dst[0],
                   dport=dst[1], flags=flags, seq=seq % 2**32, ack=ack % 2**32, win=win,
                   length=length, index=i)


def _conv(*more: Segment):
    handshake = [_seg(1, C, S, SYN, ISN_C, win=65495),
                 _seg(2, S, C, SYN | ACK, ISN_S, ISN_C + 1, win=65483),
                 _seg(3, C, S, ACK, ISN_C + 1, ISN_S + 1)]
    return split_conversations([*handshake, *more])[0]


def test_next_seq_counts_syn_fin_and_data_and_wraps() -> None:
    conv = _conv(_seg(4, C, S, PSH | ACK, ISN_C + 1, ISN_S + 1, 100),
                 _seg(5, S, C, FIN | ACK, ISN_S + 1, ISN_C + 101))
    assert next_seq(conv, C) == ISN_C + 101
    assert next_seq(conv, S) == (ISN_S + 2) % 2**32


def test_a_retransmission_does_not_move_the_next_sequence_number_back() -> None:
    conv = _conv(_seg(4, C, S, PSH | ACK, ISN_C + 1, ISN_S + 1, 100),
                 _seg(5, C, S, PSH | ACK, ISN_C + 1, ISN_S + 1, 50))
    assert next_seq(conv, C) == ISN_C + 101


def test_an_rst_counts_from_the_next_and_carries_no_ack() -> None:
    crafted = craft(_conv(), "client", "R", seq=100)
    assert (crafted.src, crafted.sport, crafted.dst, crafted.dport) == (*C, *S)
    assert crafted.flags == RST and crafted.seq == ISN_C + 101 and crafted.ack == 0
    assert crafted.win == 64  # the client's last window
    assert crafted.describe() == f"[R] seq {ISN_C + 101}, win 64, 0 bytes"


def test_the_server_side_acks_what_the_client_sent_and_may_go_back() -> None:
    crafted = craft(_conv(), "server", "P.", seq=-1000, ack=5, payload=b"hello", win=7)
    assert (crafted.src, crafted.sport) == S
    assert crafted.seq == (ISN_S + 1 - 1000) % 2**32
    assert crafted.ack == ISN_C + 1 + 5 and crafted.win == 7 and crafted.payload == b"hello"


def test_a_side_that_sent_nothing_cannot_be_counted_from() -> None:
    conv = split_conversations([_seg(1, C, S, SYN, ISN_C)])[0]
    with pytest.raises(InjectError, match="has seen no packet from the server"):
        craft(conv, "server", "R.")


def test_bad_flags_and_sides_are_refused() -> None:
    with pytest.raises(InjectError, match="inject flags 'X'"):
        craft(_conv(), "client", "X")
    with pytest.raises(InjectError, match="write client or server"):
        craft(_conv(), "middle", "R")


def test_an_rst_seen_does_not_move_the_next_sequence_number() -> None:
    conv = _conv(_seg(4, C, S, RST | ACK, ISN_C + 101, ISN_S + 1))
    assert next_seq(conv, C) == ISN_C + 1


SCENARIO = '''
id = "inject-loader"
title = "t"
statement = "s"
source = "RFC 5961"
pattern = ">S <S. >. >R"
steps = [
  { on = "server", call = "listen" },
  { on = "client", call = "connect" },
  STEP,
]
states = { client = "ESTABLISHED" }
'''


def _load(step: str):
    from harness.core.catalog import parse_scenario

    return parse_scenario(SCENARIO.replace("STEP", step), "mine.toml")


def test_an_inject_step_is_read_with_its_defaults() -> None:
    step = _load('{ call = "inject", from = "server", flags = "R.", seq = -5 }').steps[2]
    assert (step.on, step.arg("from"), step.arg("flags"), step.arg("seq"), step.arg("ack"),
            step.arg("len"), step.arg("connection")) == ("wire", "server", "R.", -5, 0, 0,
                                                         "client")


@pytest.mark.parametrize(("step", "message"), [
    ('{ call = "inject", flags = "R" }', "inject needs from"),
    ('{ call = "inject", from = "client" }', "inject needs flags"),
    ('{ call = "inject", from = "lab", flags = "R" }',
     "from must be one of client, server, not 'lab'"),
    ('{ call = "inject", from = "client", flags = "X" }', 'flags: "X" is not tcpdump flag'),
    ('{ call = "inject", from = "client", flags = ".R" }', "not in tcpdump's order"),
    ('{ call = "inject", from = "client", flags = "R", seq = 1.5 }', "seq must be a int"),
    ('{ call = "inject", from = "client", flags = "R", len = 2000 }', "len from 0 to 1400"),
    ('{ call = "inject", from = "client", flags = "R", win = 70000 }', "win from 0 to 65535"),
    ('{ call = "inject", from = "client", flags = "R", connection = "second" }',
     "no client socket named 'second'"),
    ('{ on = "client", call = "inject", from = "client", flags = "R" }',
     "inject watches the wire"),
    ('{ call = "inject", from = "client", flags = "R", sqe = 1 }', "did you mean seq?"),
])
def test_a_bad_inject_step_is_one_line_naming_it(step: str, message: str) -> None:
    from harness.core.catalog import CatalogError

    with pytest.raises(CatalogError) as caught:
        _load(step)
    text = str(caught.value)
    assert text.startswith("mine.toml step 3: ") and message in text, text
    assert "\n" not in text


def test_a_connection_named_by_the_servers_socket_is_refused() -> None:
    from harness.core.catalog import CatalogError, parse_scenario

    text = SCENARIO.replace("STEP", '{ on = "server", call = "accept" }, '
                            '{ on = "server", call = "wait_state", state = "CLOSED", '
                            'connection = "conn" }')
    with pytest.raises(CatalogError, match="no client socket named 'conn' \\(it is the "
                                           "server's: a connection is named by its client"):
        parse_scenario(text, "mine.toml")
