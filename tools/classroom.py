"""Classroom mode: project only a notebook's sliders, served by Voila (no code, no long prose).

    .venv/bin/python tools/classroom.py notebooks/04_dynamic_routing.ipynb          # sliders only
    .venv/bin/python tools/classroom.py notebooks/04_dynamic_routing.ipynb --full   # whole notebook, code hidden
    .venv/bin/python tools/classroom.py notebooks/03_squash.ipynb --write squash_class.ipynb   # just write it

Serves on http://127.0.0.1:8866/ (``--port`` to change) and stops with Ctrl+C. The sliders-only view keeps
the notebook's title, the heading of each section that has a slider, and the slider cells; every other code
cell up to the last slider still runs (the sliders need what it computes) but under ``%%capture``, so its
prints and figures stay hidden. Cells that are meant to raise an error (tag ``raises-exception`` or first line
``# NBVAL_RAISES_EXCEPTION``) are left out. See docs/classroom.md.

Which cells are sliders: where any cell of the notebook carries the cell tag ``slider``, exactly the tagged
cells. Otherwise each code cell is judged by its stored output (a widget view) or, failing that, by its source
(``widgets.interactive(...)``, ``interact``, a widget constructor, or a helper named ``*_sliders(...)``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_SOURCE = re.compile(
    r"(\binteractive\s*\(|\binteract\s*\(|@\s*(widgets\.)?interact\b|\bdisplay\s*\(\s*widgets\."
    r"|\bwidgets\.\w*(Slider|Dropdown|ToggleButtons|RadioButtons)\s*\("   # a widget made in the cell
    r"|\b\w+_sliders\s*\()")                                              # a helper that builds sliders
SLIDER_TAG = "slider"   # cell tag: where any cell of a notebook has it, exactly the tagged cells are sliders


def tagged(cell, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def shows_widget(cell) -> bool:
    """A code cell that shows a live widget: by its stored output, or failing that by its source."""
    if cell.cell_type != "code":
        return False
    if any(WIDGET_MIME in out.get("data", {}) for out in cell.get("outputs", [])):
        return True
    return bool(WIDGET_SOURCE.search(cell.source))


def slider_cells(nb) -> list[int]:
    """Indices of the cells classroom mode shows: tagged ``slider`` where the notebook uses the tag, else detected."""
    if any(tagged(cell, SLIDER_TAG) for cell in nb.cells):
        return [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and tagged(cell, SLIDER_TAG)]
    return [i for i, cell in enumerate(nb.cells) if shows_widget(cell)]


def is_widget_cell(cell) -> bool:
    """A code cell that shows a live widget (judged on its own: no notebook-wide tag rule)."""
    return (cell.cell_type == "code" and tagged(cell, SLIDER_TAG)) or shows_widget(cell)


def raises_on_purpose(cell) -> bool:
    first = cell.source.lstrip().splitlines()[0] if cell.source.strip() else ""
    tags = cell.get("metadata", {}).get("tags", [])
    return "raises-exception" in tags or first.strip().upper().startswith("# NBVAL_RAISES_EXCEPTION")


def headings(markdown: str) -> list[str]:
    """The ATX headings ('# ...', '## ...') of a markdown cell, outside fenced code."""
    found, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6}\s", line):
            found.append(line.strip())
    return found


def classroom_notebook(nb, workdir: str | os.PathLike | None = None):
    """A copy of ``nb`` that shows only its title, the sections that hold sliders, and the sliders.

    ``workdir``: where the kernel should run (the original notebook's folder), so relative paths keep working
    when the copy is written somewhere else.
    """
    out = nbformat.v4.new_notebook(metadata={k: v for k, v in nb.metadata.items() if k != "widgets"})
    title, section, shown = None, None, set()
    sliders = set(slider_cells(nb))
    cells = []
    if workdir is not None:
        cells.append(nbformat.v4.new_code_cell(f"%%capture\nimport os\nos.chdir({str(Path(workdir))!r})"))
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            found = headings(cell.source)
            if found and title is None:
                title = found[0]
                cells.append(nbformat.v4.new_markdown_cell(
                    f"{title}\n\n*Classroom view: only the sliders. The full lesson is the notebook itself.*"))
                shown.add(title)
                found = found[1:]
            if found:
                section = found[-1]
        elif cell.cell_type == "code":
            if not cell.source.strip() or raises_on_purpose(cell):
                continue
            if index in sliders:
                if section and section not in shown:
                    cells.append(nbformat.v4.new_markdown_cell(section))
                    shown.add(section)
                cells.append(nbformat.v4.new_code_cell(cell.source))
            else:
                cells.append(nbformat.v4.new_code_cell("%%capture\n" + cell.source))
    # Code after the last slider cannot feed any slider: leave it out, so the page is ready sooner.
    while cells and cells[-1].cell_type == "code" and cells[-1].source.startswith("%%capture\n"):
        cells.pop()
    out.cells = cells
    return out


def write_classroom(notebook: Path, target: Path) -> Path:
    nb = nbformat.read(notebook, as_version=4)
    here = notebook.resolve().parent
    workdir = None if Path(target).resolve().parent == here else here
    nbformat.write(classroom_notebook(nb, workdir=workdir), target)
    return target


def voila_command(notebook: Path, port: int, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--no-browser",
            "--Voila.ip=127.0.0.1", *extra]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--port", type=int, default=8866)
    parser.add_argument("--full", action="store_true", help="serve the whole notebook (code hidden)")
    parser.add_argument("--write", type=Path, metavar="PATH", help="only write the sliders-only notebook to PATH")
    args, extra = parser.parse_known_args(argv)   # anything else goes to voila (e.g. --theme=dark)
    if not args.notebook.is_file():
        parser.error(f"no such notebook: {args.notebook}")
    if args.write:
        write_classroom(args.notebook, args.write)
        print(f"wrote {args.write}")
        return 0

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not args.full and not slider_cells(nbformat.read(args.notebook, as_version=4)):
        print(f"{args.notebook} has no slider: serving it whole (code hidden) instead", file=sys.stderr)
        args.full = True
    tmp = None
    if args.full:
        served = args.notebook
    else:
        tmp = Path(tempfile.mkdtemp(prefix="capsule-classroom-"))
        served = write_classroom(args.notebook, tmp / args.notebook.name)
    print(f"Classroom view of {args.notebook} on http://127.0.0.1:{args.port}/ (Ctrl+C stops it)", flush=True)
    proc = subprocess.Popen(voila_command(served, args.port, extra))

    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
