"""`harness list`: every scenario of the catalog, with its source and the claims it settles.

It reads the catalog and prints; nothing else is imported, so it starts at once.
"""

from __future__ import annotations

from harness.core.catalog import load_catalog


def cmd_list() -> int:
    """Print each scenario's id, title and source, then each claim it settles."""
    for sc in load_catalog():
        print(f"{sc.id}: {sc.title}")
        print(f"    source: {sc.source}")
        for claim in sc.claims:
            print(f"    claim {claim.id} (Linux: {claim.linux}): {claim.text}")
            print(f"        source: {claim.source}")
    return 0
