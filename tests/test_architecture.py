"""The layout holds the design: each package imports only what its `MAY_IMPORT` table allows,
the core and the file and report packages use the standard library alone, children are named
so, and no module grows past what a reader takes in at once."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "harness"
FRONT_DOORS = {"__init__", "__main__", "cli", "pytest_plugin"}
# What each front door may import of the harness: the command reaches the commands (and the
# user namespace, before any thread starts), the pytest plugin the lab it hands out and the
# orchestration that makes and tells it (harness.orchestration.testlab).
DOOR_TABLE = {"__init__": set(), "__main__": {"harness.cli"},
              "cli": {"harness.core", "harness.orchestration", "harness.lab"},
              "pytest_plugin": {"harness.core", "harness.lab", "harness.orchestration"}}
# Libraries from outside the standard library, and the packages allowed to use them.
THIRD_PARTY = {"scapy": {"lab"}, "pyroute2": {"lab"}, "pyshark": {"lab"}, "pytest": set()}
MAX_LINES = 400


def _packages() -> list[str]:
    return sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())


def _table(package: str) -> tuple[str, ...]:
    """The MAY_IMPORT tuple a package's __init__ states, read without importing it."""
    tree = ast.parse((PACKAGE / package / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(getattr(t, "id", "") == "MAY_IMPORT" for t in targets):
                assert node.value is not None
                return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"harness/{package}/__init__.py states no MAY_IMPORT")


def _imports(path: Path) -> set[str]:
    """Every module an import statement in path names (at any depth, lazy ones included).

    Relative imports are refused: an import says in full which package it reaches into.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{path}: a relative import (from {'.' * node.level}...)"
            assert node.module
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if node.module == "harness")
    return found


MODULES = sorted((p.parent.name, p) for pkg in _packages() for p in (PACKAGE / pkg).glob("*.py"))


def test_every_module_lives_in_a_package_but_the_front_doors() -> None:
    loose = {p.stem for p in PACKAGE.glob("*.py")}
    assert loose == FRONT_DOORS, f"modules outside a package: {sorted(loose - FRONT_DOORS)}"
    assert _packages() == ["catalog", "core", "lab", "orchestration", "pcap", "report"]


@pytest.mark.parametrize(("package", "path"), MODULES,
                         ids=[f"{pkg}/{p.name}" for pkg, p in MODULES])
def test_a_module_imports_what_its_package_may(package: str, path: Path) -> None:
    if package == "catalog":
        return
    allowed = {f"harness.{package}", *_table(package)}
    for name in _imports(path):
        top = name.split(".")[0]
        if top == "harness":
            owner = ".".join(name.split(".")[:2])
            assert owner in allowed, (f"harness/{package}/{path.name} imports {name}; "
                                      f"harness/{package} may import only {sorted(allowed)}")
        elif top not in sys.stdlib_module_names:
            assert package in THIRD_PARTY.get(top, set()), (
                f"harness/{package}/{path.name} imports {top}, which only "
                f"{sorted(THIRD_PARTY.get(top, set())) or 'no package'} may use")


@pytest.mark.parametrize("door", sorted(FRONT_DOORS))
def test_a_front_door_imports_what_its_table_allows(door: str) -> None:
    for name in _imports(PACKAGE / f"{door}.py"):
        if name.split(".")[0] == "harness":
            owner = name if name == "harness.cli" else ".".join(name.split(".")[:2])
            assert owner in DOOR_TABLE[door], f"harness/{door}.py imports {name}"
        else:
            assert name.split(".")[0] in sys.stdlib_module_names | {"pytest"}, name


def test_the_core_imports_nothing_but_itself() -> None:
    assert _table("core") == ()
    assert "harness.lab" not in {*_table("pcap"), *_table("report")}


def test_code_that_runs_in_a_child_process_is_named_so() -> None:
    """Whatever the lab starts with `python -m` is a child_*.py file of the lab."""
    started = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.List) and any(
                    isinstance(e, ast.Constant) and e.value == "-m" for e in node.elts):
                index = [getattr(e, "value", None) for e in node.elts].index("-m")
                target = node.elts[index + 1]
                if isinstance(target, ast.Constant):
                    started.add(target.value)
    assert started, "found no `python -m` command in the harness"
    for module in started:
        assert module.startswith("harness.lab.child_"), module
    children = {f"harness.lab.{p.stem}" for p in (PACKAGE / "lab").glob("child_*.py")}
    assert children == started | {"harness.lab.child_peer_agent"}


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_longer_than_a_reader_takes_in(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines"


_IMPORTED = """
import sys
from harness.cli import main
code = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] if not m.startswith("harness.") else ".".join(m.split(".")[:2])
                for m in sys.modules} & {"scapy", "pyroute2", "harness.lab",
                                         "harness.orchestration.runner"})
print(code, *heavy)
"""


@pytest.mark.parametrize("command", ["list", "check", "show", "ladder", "report"])
def test_the_commands_that_capture_nothing_import_no_lab_and_no_scapy(command: str,
                                                                      tmp_path: Path) -> None:
    import subprocess

    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    from harness.pcap.writer import write_pcapng

    syn = Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=40000, dport=80, flags="S")
    syn.time = 1_700_000_000.0
    capture = write_pcapng(tmp_path / "one.pcapng", [syn])
    results = tmp_path / "results.json"
    results.write_text('{"kernel": "6.18", "runs": []}\n')
    argv = {"list": ["list"], "check": ["check", str(capture), "--expect", ">S"],
            "show": ["show", str(capture)], "ladder": ["show", str(capture), "--ladder"],
            "report": ["report", "--from", str(results)]}[command]
    done = subprocess.run([sys.executable, "-c", _IMPORTED, *argv], capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.splitlines()[-1] == "0", done.stdout[-500:]
