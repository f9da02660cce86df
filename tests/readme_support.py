"""The README's computed tables: the text between ``<!-- name -->`` and ``<!-- /name -->``."""

from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_table(name):
    text = README.read_text()
    start, end = f"<!-- {name} -->\n", f"\n<!-- /{name} -->"
    if start not in text or end not in text:
        raise AssertionError(f"README.md has no {start.strip()} ... {end.strip()} block")
    return text.split(start, 1)[1].split(end, 1)[0]
