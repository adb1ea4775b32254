"""REPORT.md and index.html written beside a results document, and `harness report`, which
renders them again from a results.json without running anything."""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.core.document import Results
from harness.core.errors import UsageError
from harness.orchestration.files import write_text
from harness.report.html import render_html
from harness.report.markdown import render_report


def render_pages(document: Results, folder: Path, root: Path) -> list[Path]:
    """Write REPORT.md and index.html for a results document into folder."""
    base = os.path.relpath(folder.resolve(), root.resolve())  # the pages' folder, from root
    pages = [(folder / "REPORT.md", render_report(document.runs, document.kernel, base)),
             (folder / "index.html", render_html(document, base))]
    for path, text in pages:
        write_text(path, text)
    return [path for path, _ in pages]


def read_results(source: str) -> Results:
    """A results.json read back; UsageError or ResultsError (one line) if it cannot be."""
    try:
        raw = json.loads(Path(source).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{source}: cannot read it ({exc.strerror}); run `harness verify` "
                         "first, or name a results.json with --from") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = (f"line {exc.lineno}, column {exc.colno}"
                 if isinstance(exc, json.JSONDecodeError) else f"byte {exc.start}")
        raise UsageError(f"{source}: not JSON ({where}); give the results.json that "
                         "`harness verify` writes") from None
    except (RecursionError, ValueError):  # too deep, or a number of 4,300 digits and more
        raise UsageError(f"{source}: not a results.json (nested too deep or a number too long "
                         "to read); give the results.json that `harness verify` writes") from None
    return Results.from_json(raw, source)


def cmd_report(source: str) -> int:
    """Render the pages again from a results.json, into its folder."""
    for page in render_pages(read_results(source), Path(source).parent, Path.cwd()):
        print(f"report: {page}")
    return 0
