"""The notebooks as a student meets them: numbered titles, test markers kept in cell tags rather than in the code,
links between notebooks that resolve, and a row of the README's contents table for every notebook."""

import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NBVAL_TAGS = {"nbval-check-output", "nbval-ignore-output", "nbval-skip", "raises-exception"}
by_name = pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)


def cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def text(cell):
    return "".join(cell["source"])


def test_the_course_has_its_notebooks():
    assert len(NOTEBOOKS) >= 9
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert all(re.fullmatch(r"\d\d", n) for n in numbers), numbers
    assert len(set(numbers)) == len(numbers), f"two notebooks share a number: {numbers}"


@by_name
def test_title_is_numbered_like_the_file(path):
    first = text(cells(path)[0]).splitlines()[0]
    assert re.match(rf"# {path.name[:2]} · \S", first), f"title {first!r} is not '# {path.name[:2]} · ...'"


@by_name
def test_test_markers_are_cell_tags_not_code(path):
    checked = 0
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] != "code":
            continue
        assert not re.search(r"#\s*NBVAL", text(cell), re.IGNORECASE), f"cell {i} has an NBVAL comment; use a tag"
        tags = set(cell.get("metadata", {}).get("tags", []))
        unknown = {t for t in tags if t.startswith("nbval") or "exception" in t} - NBVAL_TAGS
        assert not unknown, f"cell {i}: unknown nbval tag(s) {unknown}"
        checked += "nbval-check-output" in tags
    assert checked, "no cell is tagged nbval-check-output: nbval would compare nothing"


@by_name
def test_links_to_other_notebooks_resolve(path):
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] != "markdown":
            continue
        for target in re.findall(r"\]\(([^)#\s]+\.ipynb)(?:#[^)]*)?\)", text(cell)):
            if "://" not in target:
                assert (path.parent / target).is_file(), f"cell {i} links {target}, which does not exist"


@by_name
def test_every_notebook_has_a_contents_row(path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = re.compile(rf"^\|\s*\[{path.name[:2]} · [^\]]+\]\(notebooks/{re.escape(path.name)}\)\s*\|[^|]+\|.+\|\s*$",
                     re.MULTILINE)
    assert row.search(readme), f"README's course table has no row '| [{path.name[:2]} · ...](notebooks/{path.name}) |'"
