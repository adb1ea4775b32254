"""The tshark cross-check: reading tshark's fields, and catching any disagreement with us."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from harness.core.crosscheck import (
    TsharkOutputError,
    WiresharkFrame,
    batches,
    compare,
    connection_keys,
    flags_from_tshark,
    our_frames,
    parse_fields,
)
from harness.core.notation import str_to_flags
from harness.core.verdict import CrossCheck, Status, Verdict
from harness.pcap.segments import read_capture
from harness.pcap.writer import write_pcapng

C, S = ("10.0.0.1", 40000), ("10.0.0.2", 5000)
# (direction, flags, seq offset from the sender's ISN, ack offset from the peer's ISN, payload)
EXCHANGE = [(">", "S", 0, None, b""), ("<", "SA", 0, 1, b""), (">", "A", 1, 1, b""),
            (">", "PA", 1, 1, b"hello"), ("<", "A", 1, 6, b""), ("<", "RA", 1, 6, b"")]
ISN = {">": 1000, "<": 7000}


def _frames(exchange=EXCHANGE) -> list:
    out = []
    for i, (way, flags, seq, ack, data) in enumerate(exchange):
        src, dst = (C, S) if way == ">" else (S, C)
        other = "<" if way == ">" else ">"
        pkt = (Ether() / IP(src=src[0], dst=dst[0])
               / TCP(sport=src[1], dport=dst[1], flags=flags, seq=ISN[way] + seq,
                     ack=ISN[other] + ack if ack is not None else 0, window=512) / data)
        pkt.time = 1_700_000_000 + i / 1000
        out.append(pkt)
    return out


def _frame(**changes) -> WiresharkFrame:
    base = WiresharkFrame(section=1, stream=0, flags=str_to_flags("S"), sport=40000, dport=5000,
                          seq=0, ack=0, length=0, expert=())
    return dataclasses.replace(base, **changes)


# -- reading tshark's output ---------------------------------------------------------------
@pytest.mark.parametrize(("text", "flags"), [
    ("··········S·", "S"), ("·······A··S·", "S."), ("·······A·R··", "R."),
    ("·······AP··F", "FP."), ("·········R··", "R"), ("···N·····.··", "e"),
])
def test_tcp_flags_str_becomes_our_flags(text: str, flags: str) -> None:
    assert flags_from_tshark(text) == str_to_flags(flags)


def test_a_flags_string_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(TsharkOutputError, match="12 characters"):
        flags_from_tshark("····S·")


def test_fields_lines_become_frames_and_non_tcp_frames_are_skipped() -> None:
    text = ("1\t0\t·······A··S·\t5000\t40000\t0\t1\t0\tConnection establish acknowledge"
            "\t2097152\n"
            "1\t\t\t\t\t\t\t\t\t\n"
            "2\t3\t·······A····\t40000\t5000\t1\t1\t0\tTCP Zero Window segment\x1fOther\x1f"
            "server: conn.poll(POLLIN|POLLOUT) → 1\t6291456\x1f4194304\x1f1048576\n")
    first, second = parse_fields(text)
    assert (first.section, first.stream, first.sport, first.ack) == (1, 0, 5000, 1)
    assert first.warnings == ()
    assert second.expert == ("TCP Zero Window segment", "Other") and second.section == 2
    assert second.warnings == ("TCP Zero Window segment",)  # our comment is not expert info
    # a "|" in a comment (a poll's revents) is text, not a boundary between messages


def test_expert_messages_and_severities_must_pair_up() -> None:
    line = "1\t0\t·······A····\t1\t2\t0\t1\t0\tone\x1ftwo\t6291456\n"
    with pytest.raises(TsharkOutputError, match="2 expert messages but 1 severities"):
        parse_fields(line)


@pytest.mark.parametrize("line", ["1\t0\t·······A····",
                                  "x\t0\t·······A····\t1\t2\t3\t4\t5\t\t",
                                  "1\t0\t·······A····\t1\t2\t3\t4\t5\tm\tloud"])
def test_a_line_tshark_should_not_print_is_named(line: str) -> None:
    with pytest.raises(TsharkOutputError, match="line 1"):
        parse_fields(line + "\n")


# -- comparing, without tshark ------------------------------------------------------------
def _segments(tmp_path: Path, exchange=EXCHANGE) -> list:
    path = write_pcapng(tmp_path / "x.pcapng", _frames(exchange))
    return read_capture(path)


def _theirs_from_ours(segments) -> list[WiresharkFrame]:
    return [WiresharkFrame(f.stream, f.flags, f.sport, f.dport, f.seq, f.ack, f.length,
                           expert=("This frame is a (suspected) retransmission",)
                           if f.retransmission else ()) for f in our_frames(segments)]


def test_our_relative_numbers_count_from_each_sides_first_seq(tmp_path: Path) -> None:
    mine = our_frames(_segments(tmp_path))
    assert [(f.seq, f.ack) for f in mine] == [(0, 0), (0, 1), (1, 1), (1, 1), (1, 6), (1, 6)]
    assert not any(f.retransmission for f in mine)


def test_identical_views_agree(tmp_path: Path) -> None:
    segments = _segments(tmp_path)
    assert compare(segments, _theirs_from_ours(segments)) == []


def test_one_flag_read_differently_is_caught_with_both_views(tmp_path: Path) -> None:
    segments = _segments(tmp_path)
    theirs = _theirs_from_ours(segments)
    theirs[5] = dataclasses.replace(theirs[5], flags=str_to_flags("F."))
    (problem,) = compare(segments, theirs)
    assert problem.startswith("frame 6: flags differ")
    assert "ours:   <R." in problem and "tshark: <F." in problem


def test_a_missing_frame_and_a_second_stream_are_caught(tmp_path: Path) -> None:
    segments = _segments(tmp_path)
    theirs = _theirs_from_ours(segments)[:-1]
    theirs[0] = dataclasses.replace(theirs[0], stream=1)
    problems = compare(segments, theirs)
    assert "frame count: ours 6, tshark 5" in problems
    assert "stream count: ours 1, tshark 2" in problems


def test_a_retransmission_only_one_side_sees_is_caught(tmp_path: Path) -> None:
    resent = [*EXCHANGE[:4], (">", "PA", 1, 1, b"hello"), *EXCHANGE[4:]]
    segments = _segments(tmp_path, resent)
    assert [f.retransmission for f in our_frames(segments)][4]
    theirs = [dataclasses.replace(f, expert=()) for f in _theirs_from_ours(segments)]
    (problem,) = compare(segments, theirs)
    assert problem.startswith("frame 5: retransmission differ")


def test_wireshark_seeing_a_gap_in_our_capture_is_caught(tmp_path: Path) -> None:
    segments = _segments(tmp_path)
    theirs = _theirs_from_ours(segments)
    theirs[4] = dataclasses.replace(theirs[4], expert=("ACKed segment that wasn't captured "
                                                       "(common at capture start)",))
    (problem,) = compare(segments, theirs)
    assert "frame 5: tshark says ACKed segment" in problem


def test_a_warning_the_scenario_does_not_provoke_is_a_disagreement(tmp_path: Path) -> None:
    segments = _segments(tmp_path)
    theirs = _theirs_from_ours(segments)
    theirs[2] = dataclasses.replace(theirs[2], warnings=("TCP Zero Window segment",))
    (problem,) = compare(segments, theirs)
    assert problem.startswith("frame 3: tshark warns TCP Zero Window segment")
    assert compare(segments, theirs, allowed=["Zero Window"]) == []


def test_a_reset_warning_is_allowed_on_an_rst_only(tmp_path: Path) -> None:
    segments = _segments(tmp_path)
    theirs = _theirs_from_ours(segments)
    theirs[5] = dataclasses.replace(theirs[5], warnings=("Connection reset (RST)",))
    assert compare(segments, theirs) == []  # frame 6 is the <R.
    theirs[3] = dataclasses.replace(theirs[3], warnings=("Connection reset (RST)",))
    (problem,) = compare(segments, theirs)
    assert problem.startswith("frame 4: tshark warns Connection reset")


def test_a_disagreement_turns_the_verdict_into_an_error(tmp_path: Path) -> None:
    segments = _segments(tmp_path)
    verdict = Verdict(Status.PASS)
    theirs = _theirs_from_ours(segments)
    agreed = verdict.cross_checked(CrossCheck("tshark 9", len(theirs),
                                              tuple(compare(segments, theirs))))
    assert agreed.status == "pass" and agreed.crosscheck is not None
    assert agreed.crosscheck.to_json() == {"by": "tshark 9", "frames": 6, "agrees": True}
    theirs[0] = dataclasses.replace(theirs[0], sport=1)
    checked = verdict.cross_checked(CrossCheck("tshark 9", len(theirs),
                                               tuple(compare(segments, theirs))))
    assert checked.status == "error" and checked.crosscheck is not None
    assert checked.crosscheck.to_json()["agrees"] is False
    assert checked.reasons[-1].startswith("tshark 9 reads the pcap differently from our "
                                          "listing: frame 1: sport differ")
    assert verdict.status == "pass" and verdict.crosscheck is None  # judged once, kept


# -- the real tshark on files we wrote ----------------------------------------------------
@pytest.fixture
def tshark() -> None:
    from harness.orchestration.tshark import TsharkMissing, tshark_version

    try:
        tshark_version()
    except TsharkMissing as exc:
        pytest.skip(str(exc))


@pytest.mark.usefixtures("tshark")
def test_tshark_agrees_with_us_on_an_honest_file_and_catches_a_corrupted_listing(
        tmp_path: Path) -> None:
    from harness.orchestration.tshark import read_pcaps

    segments = _segments(tmp_path)
    (theirs,) = read_pcaps([tmp_path / "x.pcapng"])
    assert compare(segments, theirs) == []
    segments[5] = dataclasses.replace(segments[5], flags=str_to_flags("F."))  # our bug
    (problem,) = compare(segments, theirs)
    assert "frame 6: flags differ" in problem and "tshark: <R." in problem


@pytest.mark.usefixtures("tshark")
def test_tshark_catches_a_pcap_edited_behind_our_back(tmp_path: Path) -> None:
    from harness.orchestration.tshark import read_pcaps

    segments = _segments(tmp_path)
    edited = _frames()
    edited[3][TCP].flags = "FPA"
    write_pcapng(tmp_path / "edited.pcapng", edited)
    keys = [connection_keys(segments)] * 2  # the same connection: two tshark runs
    first, second = read_pcaps([tmp_path / "x.pcapng", tmp_path / "edited.pcapng"], keys)
    assert compare(segments, first) == []
    problems = compare(segments, second)
    assert problems and problems[0].startswith("frame 4: flags differ")


def test_files_sharing_a_connection_are_read_by_separate_tsharks() -> None:
    a, b, c = {("x",)}, {("y",)}, {("x",), ("z",)}
    assert batches([a, b, c, b]) == [[0, 1], [2, 3]]
    assert batches([a, b]) == [[0, 1]]


@pytest.mark.usefixtures("tshark")
def test_a_file_tshark_cannot_read_is_one_clear_error(tmp_path: Path) -> None:
    from harness.orchestration.tshark import TsharkError, read_pcaps

    whole = write_pcapng(tmp_path / "whole.pcapng", _frames()).read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(whole[:-10])  # the last packet cut short
    with pytest.raises(TsharkError, match=r"tshark failed on the pcaps \(exit 2\): .*cut short"):
        read_pcaps([cut])


@pytest.mark.usefixtures("tshark")
@pytest.mark.parametrize("profile", ["absolute sequence numbers", "a profile it cannot read"])
def test_no_profile_in_home_can_change_or_stop_the_cross_check(
        tmp_path: Path, monkeypatch, profile: str) -> None:
    """tshark reads $HOME/.config/wireshark unless told otherwise: a profile there that turns
    relative sequence numbers and the analysis off, or one that cannot be read (a preferences
    file that is a folder, and a hosts file that is a fifo no one writes to, which would hang
    a tshark that opened it), must change nothing."""
    import os

    from harness.orchestration.tshark import read_pcaps

    segments = _segments(tmp_path)
    config = tmp_path / "home" / ".config" / "wireshark"
    config.mkdir(parents=True)
    if profile == "absolute sequence numbers":
        (config / "preferences").write_text("tcp.relative_sequence_numbers: FALSE\n"
                                            "tcp.analyze_sequence_numbers: FALSE\n")
    else:
        (config / "preferences").mkdir()
        os.mkfifo(config / "hosts")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WIRESHARK_CONFIG_DIR", raising=False)
    (theirs,) = read_pcaps([tmp_path / "x.pcapng"], timeout=20)
    assert compare(segments, theirs) == []
    assert [frame.seq for frame in theirs][:3] == [0, 0, 1]  # relative: each ISN is 0
