"""Reports: the results document, the terminal story, REPORT.md, index.html and ladders.

Pure rendering of judged runs; no privileges, nothing captured.
"""

#: The packages of the harness this package may import (besides itself).
MAY_IMPORT: tuple[str, ...] = ("harness.core", "harness.pcap")
