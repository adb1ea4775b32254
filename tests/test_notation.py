"""Tests for harness.core.notation: tcpdump's TCP flag letters and packet tokens."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from harness.core.notation import (
    ACK,
    AE,
    CWR,
    ECE,
    FIN,
    PSH,
    RST,
    SYN,
    URG,
    NotationError,
    flags_to_str,
    parse_token,
    str_to_flags,
    token,
)

# tcpdump's own table, written out independently of the module under test:
# (header bit, letter) in the order tcpdump walks it.
TCPDUMP_TABLE = [
    (0x01, "F"),
    (0x02, "S"),
    (0x04, "R"),
    (0x08, "P"),
    (0x10, "."),
    (0x20, "U"),
    (0x40, "E"),
    (0x80, "W"),
    (0x100, "e"),
]


def oracle(bits: int) -> str:
    """How tcpdump spells ``bits``, computed from TCPDUMP_TABLE."""
    return "".join(letter for bit, letter in TCPDUMP_TABLE if bits & bit) or "none"


def test_constants_are_the_header_bits() -> None:
    assert [bit for bit, _ in TCPDUMP_TABLE] == [FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, AE]


@pytest.mark.parametrize("bits", range(512))
def test_every_combination_round_trips_and_matches_tcpdump(bits: int) -> None:
    spelled = flags_to_str(bits)
    assert spelled == oracle(bits)
    assert str_to_flags(spelled) == bits


@pytest.mark.parametrize(
    ("bits", "spelled"),
    [
        (SYN, "S"),
        (SYN | ACK, "S."),
        (ACK, "."),
        (PSH | ACK, "P."),
        (FIN | ACK, "F."),
        (RST | ACK, "R."),
        (RST, "R"),
        (FIN | PSH | ACK, "FP."),
        (0, "none"),
        (SYN | ECE | CWR, "SEW"),
        (ACK | URG, ".U"),
        (ACK | AE, ".e"),
    ],
)
def test_spot_checks(bits: int, spelled: str) -> None:
    assert flags_to_str(bits) == spelled
    assert str_to_flags(spelled) == bits


def test_bits_above_the_flag_field_are_ignored() -> None:
    assert flags_to_str(0x200 | SYN) == "S"
    assert flags_to_str(0x200) == "none"


def test_bracketed_none_reads_as_no_flags() -> None:
    assert str_to_flags("[none]") == 0


def test_unknown_letter_is_named() -> None:
    with pytest.raises(NotationError, match=r'"SX".*"X" is not a flag letter'):
        str_to_flags("SX")


def test_lowercase_s_is_not_syn() -> None:
    with pytest.raises(NotationError, match='"s" is not a flag letter'):
        str_to_flags("s")


def test_repeated_letter_is_named() -> None:
    with pytest.raises(NotationError, match=r'"S\.S".*"S" appears more than once'):
        str_to_flags("S.S")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [(".S", "S."), (".R", "R."), ("PF.", "FP."), ("SWE", "SEW"), ("U.", ".U"), ("e.", ".e")],
)
def test_out_of_order_suggests_canonical_spelling(text: str, canonical: str) -> None:
    with pytest.raises(NotationError) as caught:
        str_to_flags(text)
    assert str(caught.value) == f'"{text}" is not in tcpdump\'s order; write "{canonical}"'


def test_empty_flags_are_refused() -> None:
    with pytest.raises(NotationError, match="expected flag letters"):
        str_to_flags("")


def test_notation_error_is_a_value_error() -> None:
    assert issubclass(NotationError, ValueError)


@pytest.mark.parametrize(
    ("direction", "bits", "expected"),
    [
        (">", SYN, ">S"),
        ("<", SYN | ACK, "<S."),
        (">", ACK, ">."),
        ("<", RST | ACK, "<R."),
        (">", 0, ">[none]"),
        ("<", 0, "<[none]"),
    ],
)
def test_token_round_trips(direction: str, bits: int, expected: str) -> None:
    assert token(direction, bits) == expected
    assert parse_token(expected) == (direction, bits)


@pytest.mark.parametrize("bits", range(512))
def test_every_token_round_trips(bits: int) -> None:
    for direction in (">", "<"):
        assert parse_token(token(direction, bits)) == (direction, bits)


@pytest.mark.parametrize("direction", ["", "=", "->", "<>", "x"])
def test_token_refuses_bad_direction(direction: str) -> None:
    with pytest.raises(NotationError, match='expected direction ">" or "<"'):
        token(direction, SYN)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'expected ">" or "<" first, got nothing'),
        ("S.", 'expected ">" or "<" first, got "S"'),
        ("=S", 'expected ">" or "<" first, got "="'),
        (">", 'expected flags after ">"'),
        ("<", 'expected flags after "<"'),
        (">none", r'write ">\[none\]" for no flags'),
        ("<.S", r'write "S\."'),
        (">SQ", '"Q" is not a flag letter'),
    ],
)
def test_parse_token_errors(text: str, message: str) -> None:
    with pytest.raises(NotationError, match=message):
        parse_token(text)


# ---------------------------------------------------------------- against real tcpdump

TCPDUMP = shutil.which("tcpdump") or "/usr/bin/tcpdump"
needs_tcpdump = pytest.mark.skipif(not Path(TCPDUMP).exists(), reason="tcpdump is not installed")

PLAIN_SAMPLES = [
    0,
    SYN,
    SYN | ACK,
    ACK,
    FIN | PSH | ACK,
    FIN | ACK,
    RST,
    RST | ACK,
    SYN | ECE | CWR,
    URG | ACK,
    0xFF,
]
AE_SAMPLES = [AE | ACK, AE | SYN | ACK, AE | ECE | CWR | ACK, AE]
LINKTYPE_RAW = 101


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ipv4_tcp_packet(bits: int) -> bytes:
    """A 40-byte IPv4+TCP packet whose flag field is ``bits`` (AE in the reserved nibble)."""
    offset_and_ae = (5 << 4) | ((bits >> 8) & 0x01)
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1000, 2000, offset_and_ae, bits & 0xFF, 512, 0, 0)
    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0x4000, 64, 6, 0, src, dst)
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + tcp


def _write_pcap(path: Path, samples: list[int]) -> None:
    """A classic little-endian pcap file with one raw-IPv4 packet per sample."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RAW))
    for second, bits in enumerate(samples):
        packet = _ipv4_tcp_packet(bits)
        out += struct.pack("<IIII", second, 0, len(packet), len(packet)) + packet
    path.write_bytes(bytes(out))


def _tcpdump_flags(path: Path) -> list[str]:
    """The text inside ``Flags [...]`` for every packet tcpdump prints from ``path``."""
    result = subprocess.run(
        [TCPDUMP, "-n", "-r", str(path)], capture_output=True, text=True, check=True, timeout=30
    )
    return re.findall(r"Flags \[([^\]]*)\]", result.stdout)


@needs_tcpdump
def test_tcpdump_prints_the_same_letters(tmp_path: Path) -> None:
    capture = tmp_path / "flags.pcap"
    _write_pcap(capture, PLAIN_SAMPLES)
    assert _tcpdump_flags(capture) == [flags_to_str(bits) for bits in PLAIN_SAMPLES]


@needs_tcpdump
def test_tcpdump_prints_the_ae_bit_the_same_way(tmp_path: Path) -> None:
    capture = tmp_path / "ae.pcap"
    _write_pcap(capture, AE_SAMPLES)
    printed = _tcpdump_flags(capture)
    if printed == [flags_to_str(bits & ~AE) for bits in AE_SAMPLES]:
        pytest.skip("this tcpdump predates the AE flag and does not print it")
    assert printed == [flags_to_str(bits) for bits in AE_SAMPLES]
