"""The pure core never imports the privileged shell (nor scapy's capture machinery)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "harness"
CORE = ["notation", "pattern", "expect", "claims", "scenario", "segment", "conversation",
        "listing", "result", "verdict", "report", "report_markdown", "crosscheck", "annotate",
        "ladder", "ladder_svg", "report_html", "pcapng", "flakes"]
SHELL = ["netns", "capture", "sockdiag", "peer_agent", "peer", "lab", "runner", "privileges",
         "waiting", "cli", "pytest_plugin", "tshark", "topology", "link_agent",
         "programs", "userns", "agent_process", "timing", "batch"]


def _imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_every_module_is_either_core_or_shell() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert modules == set(CORE) | set(SHELL)


@pytest.mark.parametrize("module", CORE)
def test_the_core_does_not_import_the_shell(module: str) -> None:
    shell = {f"harness.{name}" for name in SHELL}
    assert not _imports(module) & shell
    assert "scapy.sendrecv" not in _imports(module)  # no sniffing in the core
