"""Capture files: the one pcap/pcapng reader and writer, and the comments a run's pcapng carries.

Standard library only, no privileges: reading any capture a user gives, writing our own.
"""

#: The packages of the harness this package may import (besides itself).
MAY_IMPORT: tuple[str, ...] = ("harness.core",)
