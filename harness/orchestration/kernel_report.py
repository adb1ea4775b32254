"""The table of what changed between kernels written out: kernels.json, REPORT.md and
index.html in one folder, each pcap linked relative to it; and `harness report --from A
--from B ...`, which joins results.json files made anywhere (one CI job per kernel) into the
same table.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.core import kernel_table, link_fidelity
from harness.core.document import Results, ResultsError
from harness.core.errors import UsageError
from harness.orchestration.files import writable_folder, write_text
from harness.orchestration.pages import read_results
from harness.report.kernel_pages import render_kernels_html, render_kernels_markdown

#: Where in a kernel's folder the link-fidelity passes go, by the player they ask for.
FIDELITY = {"kernel": "link-kernel", "user": "link-user"}


def _player_folder(folder: Path, player: str) -> Path:
    """Where a player's runs are: its pass's folder, or (the kernel's netem, when the catalog
    ran the impaired-link scenarios on veth itself) the kernel's own folder."""
    own = folder / FIDELITY[player]
    return own if own.is_dir() or player == "user" else folder


def fidelity_of(folder: Path) -> tuple[dict[str, Any] | None, str]:
    """The link-fidelity passes beside a results.json compared, or None and why not."""
    sides = {}
    for player in FIDELITY:
        path = _player_folder(folder, player) / "results.json"
        if not path.is_file():
            return None, f"no {path}"
        try:
            sides[player] = Results.from_json(json.loads(path.read_text()), str(path))
        except (OSError, ValueError, ResultsError) as exc:
            return None, str(exc)
    twins = {(run.id, run.family) for run in sides["user"].runs}
    kernel = sides["kernel"]
    sides["kernel"] = dataclasses.replace(kernel, runs=tuple(
        run for run in kernel.runs if (run.id, run.family) in twins and run.topology == "veth"))
    return link_fidelity.compare(sides["kernel"], sides["user"]), ""


def _relink(table: dict[str, Any], folders: Mapping[str, Path], out: Path) -> None:
    """Each pcap path made relative to out (a run's pcap sits beside its results.json), and
    each kernel's own index.html linked where it has one."""
    def rel(label: str, pcap: str | None) -> str | None:
        if pcap is None or label not in folders:
            return pcap
        return os.path.relpath(folders[label] / Path(pcap).name, out)

    for row in table["rows"]:
        row["pcaps"] = {label: rel(label, p) for label, p in row["pcaps"].items()}
    for column in table["kernels"]:
        folder = folders.get(column["label"])
        for row in (column.get("link_fidelity") or {}).get("rows", []):
            row["pcaps"] = {player: None if p is None or folder is None else
                            os.path.relpath(_player_folder(folder, player) / Path(p).name, out)
                            for player, p in row["pcaps"].items()}
        if folder is not None and (folder / "index.html").is_file():
            column["pages"] = os.path.relpath(folder / "index.html", out)


def write_table(columns: Sequence[kernel_table.Column], folders: Mapping[str, Path],
                out: Path) -> tuple[dict[str, Any], list[Path]]:
    """kernels.json, REPORT.md and index.html of the columns, into out; the table and the
    files written."""
    table = kernel_table.build(columns)
    _relink(table, folders, out)
    files = [(out / "kernels.json", json.dumps(table, indent=2) + "\n"),
             (out / "REPORT.md", render_kernels_markdown(table)),
             (out / "index.html", render_kernels_html(table))]
    for path, text in files:
        write_text(path, text)
    return table, [path for path, _ in files]


def _source(text: str) -> Path:
    """A --from: a results.json, or a folder holding one."""
    path = Path(text)
    return path / "results.json" if path.is_dir() else path


def cmd_report_kernels(sources: Sequence[str], out: str) -> int:
    """Join several results.json into the table of what changed, written into out."""
    columns, folders, seen = [], {}, set()
    for text in sources:
        path = _source(text)
        if path.resolve() in seen:
            raise UsageError(f"--from {text}: given twice; name each results.json once")
        seen.add(path.resolve())
        results = read_results(str(path))
        label = results.kernel or path.parent.name
        if label in folders:  # the same kernel from two jobs: told apart by folder
            label = f"{label} ({path.parent})"
        fidelity, _ = fidelity_of(path.parent)
        columns.append(kernel_table.Column(label, results=results, fidelity=fidelity))
        folders[label] = path.parent
    writable_folder(out, "--out")
    table, files = write_table(columns, folders, Path(out))
    print("\n".join(kernel_table.lines(table)))
    for path in files:
        print(f"report: {path}")
    return 0
