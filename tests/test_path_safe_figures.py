"""The notebooks hold nothing that reads as an absolute path, base64 figures included, and the tool that
re-encodes their figures keeps every pixel."""

import base64
import io
import re
import pathlib

import numpy as np
import pytest
from browser_support import load_tool

ROOT = pathlib.Path(__file__).resolve().parent.parent
# '/word/' not after a letter, digit, '.', '~', ':', '/' or '-': '/tmp/x' and '+/OH/+' match, 'a/b/c', '../docs/'
# and 'https://host/path' do not. Base64 never holds '_', '.' or '-', so within a figure only '+' and '/' start one.
PATH_LIKE = re.compile(r"(?<![\w.~:/-])/[\w.-]+/")

figures = load_tool("path_safe_figures")


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_holds_nothing_that_reads_as_an_absolute_path(notebook):
    hits = PATH_LIKE.findall(notebook.read_text())
    assert not hits, (f"{notebook.name} holds {hits[:3]}; if they are in figures, run "
                      f"`python tools/path_safe_figures.py notebooks/{notebook.name}`")


def unsafe_png():
    """A matplotlib figure whose base64 text holds a '/' after a '+' (the pattern path scanners flag)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    for _ in range(20):
        figure, axes = plt.subplots(figsize=(3, 2))
        axes.imshow(rng.random((16, 16)), cmap="viridis")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plt.close(figure)
        png = buffer.getvalue()
        if not figures.path_safe(base64.b64encode(png).decode()):
            return png
    raise AssertionError("no unsafe figure drawn in 20 tries")


def test_reencoded_figure_is_path_safe_keeps_its_pixels_and_is_stable():
    png = unsafe_png()
    text = base64.b64encode(png).decode()
    assert PATH_LIKE.search(text) or "+/" in text or "//" in text
    new_text = figures.safe_figure(text)
    assert figures.path_safe(new_text) and not PATH_LIKE.search(new_text)
    new = base64.b64decode(new_text)
    mode_a, a = figures.pixels(png)
    mode_b, b = figures.pixels(new)
    assert mode_a == mode_b and np.array_equal(a, b)
    assert figures.safe_figure(new_text) == new_text
    assert figures.safe_figure(text) == new_text


def test_path_safe_reads_the_slash_rule():
    assert figures.path_safe("abc/def/ghi")
    assert not figures.path_safe("ab+/OH/+x")
    assert not figures.path_safe("ab//c")
    assert not figures.path_safe("/abc")


def test_a_file_that_is_not_png_is_refused_by_name():
    with pytest.raises(ValueError, match="not a PNG"):
        figures.reencode(b"GIF89a" + bytes(20))
