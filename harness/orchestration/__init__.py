"""Orchestration: a scenario's steps on a lab, plans of runs in workers, tshark, soak, probe.

It puts the lab to work for the core: runs, judges, cross-checks and writes what they found.
"""

#: The packages of the harness this package may import (besides itself).
MAY_IMPORT: tuple[str, ...] = ("harness.core", "harness.pcap", "harness.report", "harness.lab")
