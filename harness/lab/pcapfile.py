"""A lab's pcapng before and as it is written: what the section header and the interface
block say of the machine, the run and where it captured, and the packets' comments."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.version import PACKAGE, version
from harness.pcap.model import Interface, Record, Section
from harness.pcap.writer import write_pcapng


def harness_version() -> str:
    """`tcp-close-harness 0.1.0 (scapy 2.8.0, Python 3.11.7)`, for the pcapng header."""
    return (f"{PACKAGE} {version()} (scapy {importlib.metadata.version('scapy')}, "
            f"Python {platform.python_version()})")


def header(scenario: str, family: str, topology: str, link: str, ifname: str,
           where: str, sysctls: str = "") -> tuple[Section, Interface]:
    """The section header (machine, kernel, harness; what ran, with the link's impairment
    and the run's sysctls) and the interface block (the interface and where it was) of a
    lab's pcapng."""
    kernel = f"Linux {platform.release()}"
    told = (f"scenario {scenario}, {family}, topology {topology}"
            + (f", link: {link}" if link else "") + (f", sysctls: {sysctls}" if sysctls else ""))
    section = Section(hardware=platform.machine(), os=kernel, application=harness_version(),
                      comments=(told,))
    return section, Interface(name=ifname, description=where, os=kernel)


@dataclass(frozen=True)
class UnwrittenPcap:
    """A run's capture, to be written as pcapng once its story is known."""

    path: Path
    records: tuple[Record, ...]
    section: Section
    interface: Interface

    def write(self, comments: Mapping[int, Sequence[str]] | None = None,
              told: Sequence[str] = ()) -> None:
        """Write it, with comments on frames by number (from 1) and told in the section."""
        comments = comments or {}
        records = [dataclasses.replace(record, comments=(*record.comments,
                                                         *comments.get(number, ())))
                   if number in comments else record
                   for number, record in enumerate(self.records, 1)]
        section = dataclasses.replace(self.section, comments=(*self.section.comments, *told))
        write_pcapng(self.path, records, section, self.interface)
