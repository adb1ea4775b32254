"""Running tshark over our pcapng files: one process for any number of them.

pcapng allows several sections in one file, so the files are concatenated into one
temporary file and read by a single tshark; `frame.section_number` says which file each
frame came from. One start (~0.15 s) serves many pcaps instead of one per pcap.

tshark runs with a configuration folder of its own, empty (WIRESHARK_CONFIG_DIR), and the
preferences the comparison rests on given on its command line: no profile of the user's (nor
a HOME it may not read) can change what it dissects, or stop it.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from harness.core.crosscheck import (
    FIELDS_ARGS,
    TsharkOutputError,
    WiresharkFrame,
    batches,
    parse_fields,
)
from harness.core.errors import LabError, UserError
from harness.lab.wireshark import private_env, tshark_command
from harness.pcap.reader import parse_pcapng


class TsharkError(LabError):
    """tshark failed on the pcaps; the message says how."""


class TsharkMissing(UserError):
    """tshark is not installed; the message says how to install it."""




def _require_tshark() -> None:
    if shutil.which("tshark") is None:
        raise TsharkMissing("tshark is not installed, so the cross-check cannot run: install "
                          "it (Debian: apt-get install tshark; `make` does it when run as root)")


def tshark_version() -> str:
    """`tshark 4.0.17`, or TsharkMissing when tshark is not installed."""
    _require_tshark()
    with tempfile.TemporaryDirectory(prefix="harness-tshark-") as folder:
        out = subprocess.run(["tshark", "--version"], capture_output=True, text=True,
                             check=False, env=private_env(folder))
    first = out.stdout.splitlines()[0] if out.stdout else "tshark"
    return " ".join(first.split()[:3]).rstrip(".")


def read_pcaps(paths: Sequence[str | Path], connections: Sequence[set[tuple]] | None = None,
               timeout: float = 60.0) -> list[list[WiresharkFrame]]:
    """tshark's frames for each file, in the order given.

    One tshark reads them all, unless `connections` (each file's four-tuples) shows two files
    sharing a connection: those go to separate tshark runs (see crosscheck.batches).
    """
    _require_tshark()
    views: list[list[WiresharkFrame]] = [[] for _ in paths]
    for group in batches(connections) if connections else [list(range(len(paths)))]:
        for index, frames in zip(group, _read_joined([paths[i] for i in group], timeout),
                                 strict=True):
            views[index] = frames
    return views


def _read_joined(paths: Sequence[str | Path], timeout: float) -> list[list[WiresharkFrame]]:
    if not paths:
        return []
    with tempfile.TemporaryDirectory(prefix="harness-tshark-") as folder:
        joined = Path(folder, "all.pcapng")
        with joined.open("wb") as out:
            for path in paths:
                out.write(Path(path).read_bytes())
        try:
            done = subprocess.run(tshark_command("-n", "-r", str(joined), *FIELDS_ARGS),
                                  capture_output=True, text=True, timeout=timeout,
                                  check=False, env=private_env(folder))
        except subprocess.TimeoutExpired:
            raise TsharkError(f"tshark did not finish reading the pcaps within {timeout:.0f} "
                              "s") from None
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no message"
        raise TsharkError(f"tshark failed on the pcaps (exit {done.returncode}): {message}")
    per_file: list[list[WiresharkFrame]] = [[] for _ in paths]
    try:
        read = parse_fields(done.stdout)
    except TsharkOutputError as exc:
        raise TsharkError(f"tshark printed what we cannot read: {exc}") from None
    for frame in read:
        per_file[frame.section - 1].append(frame)
    return [_streams_from_zero(frames) for frames in per_file]


def _streams_from_zero(frames: list[WiresharkFrame]) -> list[WiresharkFrame]:
    """Stream numbers as tshark would give them reading this file alone: tshark numbers the
    streams of the joined file in one sequence, so each file's start from its lowest."""
    if not frames:
        return frames
    first = min(f.stream for f in frames)
    return [dataclasses.replace(f, stream=f.stream - first) for f in frames]


def filter_frames(paths: Sequence[str | Path], text: str,
                  connections: Sequence[set[tuple]] | None = None,
                  timeout: float = 60.0) -> list[tuple[int, ...]]:
    """For each file, the numbers of its frames (from 1) that the display filter matches, as
    one tshark reads them (files sharing a connection apart, as for read_pcaps)."""
    _require_tshark()
    found: list[tuple[int, ...]] = [() for _ in paths]
    for group in batches(connections) if connections else [list(range(len(paths)))]:
        for index, frames in zip(group, _filter_joined([paths[i] for i in group], text,
                                                       timeout), strict=True):
            found[index] = frames
    return found


def _filter_joined(paths: Sequence[str | Path], text: str,
                   timeout: float) -> list[tuple[int, ...]]:
    if not paths:
        return []
    datas = [Path(path).read_bytes() for path in paths]
    starts = [0]
    for data in datas[:-1]:  # frame.number runs on across sections: each file's first
        starts.append(starts[-1] + len(parse_pcapng(data).records))
    with tempfile.TemporaryDirectory(prefix="harness-tshark-") as folder:
        joined = Path(folder, "all.pcapng")
        joined.write_bytes(b"".join(datas))
        try:
            done = subprocess.run(tshark_command("-n", "-r", str(joined), "-Y", text, "-T",
                                                 "fields", "-e", "frame.section_number", "-e",
                                                 "frame.number"),
                                  capture_output=True, text=True, timeout=timeout,
                                  check=False, env=private_env(folder))
        except subprocess.TimeoutExpired:
            raise TsharkError(f"tshark did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no message"
        raise TsharkError(f"tshark failed on the display filter (exit {done.returncode}): "
                          f"{message}")
    per_file: list[list[int]] = [[] for _ in paths]
    for line in done.stdout.splitlines():
        section, number = (int(word) for word in line.split("\t"))
        per_file[section - 1].append(number - starts[section - 1])
    return [tuple(frames) for frames in per_file]
