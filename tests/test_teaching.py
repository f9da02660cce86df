"""The guides in docs/: every number the teacher's guide gives as an exercise answer is what the package computes,
every link into a notebook (and to a section of it) resolves, and the guides cover every notebook and heading."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import unquote

import nbformat
import numpy as np
import pytest

import capsule_lesson as cl

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TEACHING = (DOCS / "teaching.md").read_text(encoding="utf-8")
GUIDES = ["teaching.md", "glossary.md", "zh-guide.md"]

# The article's headings (https://kexue.fm/archives/4819) that the map in the teacher's guide must cover.
ARTICLE_HEADINGS = ["宴会特色", "大盆菜", "浓缩果汁", "动态路由", "小菜1", "小菜2", "上主菜", "模型细节", "全连接版",
                    "共享版", "反向传播", "做了什么", "MNIST分类", "我的实验", "看起来还行", "亟待优化", "反向传播好不好",
                    "池化好不好"]


def section(title: str) -> str:
    """The text of the teacher's guide from the heading ``title`` to the next heading of the same or higher level."""
    m = re.search(rf"^(#+) {re.escape(title)}\s*$", TEACHING, re.MULTILINE)
    assert m, f"docs/teaching.md has no heading {title!r}"
    level = len(m.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(TEACHING, m.end())
    return TEACHING[m.end():end.start() if end else len(TEACHING)]


def states(text: str, *numbers: str) -> None:
    missing = [n for n in numbers if n not in text]
    assert not missing, f"the guide does not state {missing} (the package computes them)"


def f4(x) -> str:
    return f"{float(x):.4f}"


# --------------------------------------------------------------------------- exercise answers
def test_e1_fixed_point_steps():
    text = section("E1. Three steps by hand")
    y = cl.fixed_point_inverse(2.0, 5)
    true = float(cl.inverse_by_bisection(2.0))
    errors = np.abs(y - true)
    states(text, *(f4(v) for v in y[1:4]), f4(true), *(f4(e) for e in errors[:4]), f4(abs(np.sin(true))))
    states(text, f"{errors[4]:.4f}", f"{errors[5]:.4f}")
    assert errors[5] / errors[4] == pytest.approx(abs(np.sin(true)), abs=0.02)   # the factor it approaches
    fast = cl.fixed_point_inverse(1.0, 4)
    assert float(cl.inverse_by_bisection(1.0)) == pytest.approx(0.0, abs=1e-9)
    states(text, *(f4(v) for v in fast[1:4]), f"{fast[4]:.6f}".rstrip("0"))


def test_e2_squash_lengths():
    text = section("E2. Squash lengths")
    for n in (0.5, 2.0, 4.0):
        x = np.array([n, 0.0])
        states(text, f4(np.linalg.norm(cl.squash(x, "hinton"))), f4(np.linalg.norm(cl.squash(x, "su"))))
    short = np.array([0.5, 0.0])
    states(text, f4(np.linalg.norm(cl.squash(short, "su")) / np.linalg.norm(cl.squash(short, "hinton"))))
    two = cl.squash(np.array([1.2, 1.6]), "hinton")               # length 2
    states(text, f4(np.linalg.norm(two)), f4(np.linalg.norm(two + two)),
           f4(np.linalg.norm(cl.squash(np.array([2.4, 3.2]), "hinton"))))
    # neither variant lengthens a vector
    n = np.linspace(1e-3, 10, 2000)[:, None] * np.array([[1.0, 0.0]])
    assert np.all(np.linalg.norm(cl.squash(n, "su"), axis=1) < np.linalg.norm(n, axis=1))


E3_PREDICTIONS = np.array([[[2, 0], [0, 1]], [[2, 0], [0, -1]], [[0, 2], [1, 0]]], dtype=float)   # (i, j, d)


def test_e3_one_routing_by_hand():
    text = section("E3. One routing by hand")
    two = cl.dynamic_routing(E3_PREDICTIONS, routings=2, update="replace", squash="su")
    v1 = two.v_history[0]
    states(text, "(0.8131, 0.4066)", "(0.3333, 0)")
    np.testing.assert_allclose(v1, [[0.8131, 0.4066], [0.3333, 0.0]], atol=5e-5)
    b = two.b_history[1]
    states(text, f4(b[0, 0]), f4(b[2, 0]), f4(b[2, 1]))
    np.testing.assert_allclose(b[:, 1][:2], 0.0)
    c = two.c_history[1]
    states(text, f"({f4(c[0, 0])}, {f4(c[0, 1])})", f"({f4(c[2, 0])}, {f4(c[2, 1])})")
    accumulate = cl.dynamic_routing(E3_PREDICTIONS, routings=2, update="accumulate", squash="su")
    np.testing.assert_array_equal(accumulate.v, two.v)          # same for one and two routings
    three = {rule: cl.dynamic_routing(E3_PREDICTIONS, routings=3, update=rule, squash="su") for rule in cl.ROUTING_UPDATES}
    states(text, f4(three["replace"].c_history[-1][0, 0]), f4(three["accumulate"].c_history[-1][0, 0]))
    long = {rule: cl.dynamic_routing(E3_PREDICTIONS, routings=30, update=rule, squash="su") for rule in cl.ROUTING_UPDATES}
    c3 = long["replace"].c_history[-1][2]
    states(text, f"({f4(c3[0])}, {f4(c3[1])})")
    settled = long["replace"].c_history
    assert np.abs(settled[-1] - settled[-2]).max() < 1e-9                  # "replace has settled"
    one_hot = long["accumulate"].c_history[-1]
    assert np.all(one_hot[:, 0].round(4) == 1.0) and cl.coupling_entropy(one_hot) < 1e-9
    states(text, "1.0000", "10^{-9}")


def test_e4_without_matrices_every_upper_capsule_is_the_same():
    text = section("E4. Why the matrices?")
    u = np.array([[1.0, 0.5], [0.2, -1.0], [-0.3, 0.8]])
    u_hat = np.repeat(u[:, None, :], 4, axis=1)                  # û_{j|i} = u_i for all four j
    for rule in cl.ROUTING_UPDATES:
        result = cl.dynamic_routing(u_hat, routings=10, update=rule, squash="su")
        np.testing.assert_allclose(result.c_history, 0.25)
        np.testing.assert_allclose(result.v, np.broadcast_to(result.v[0], result.v.shape))
    states(text, "0.25", "ten routings", "four identical")


def test_e5_parameter_counts():
    import keras

    text = section("E5. Count the parameters")
    model = cl.capsule_model()
    trunk = keras.Model(model.input, model.get_layer("to_capsules").output)
    n_digit = trunk.predict(np.zeros((1, 28, 28, 1), "float32"), verbose=0).shape[1]
    n_pair = trunk.predict(np.zeros((1, 56, 28, 1), "float32"), verbose=0).shape[1]
    assert (n_digit, n_pair) == (64, 176)
    states(text, "8×8 = 64", "22×8 = 176")
    counts = {}
    for shared, n_in in ((True, 64), (True, 176), (False, 64), (False, 176)):
        layer = cl.Capsule(10, 16, routings=3, share_weights=shared)
        layer.build((None, n_in, 128))
        counts[shared, n_in] = layer.count_params()
    assert counts[True, 64] == counts[True, 176]
    states(text, *(f"{counts[k]:,}".replace(",", "{,}") for k in [(True, 64), (False, 64), (False, 176)]))
    states(text, f"{model.count_params():,}", f"{cl.cnn_baseline().count_params():,}")


def test_e6_margin_loss():
    text = section("E6. Margin loss")
    y_true = np.zeros((1, 10), "float32")
    y_true[0, 3] = 1
    scores = np.full((1, 10), 0.05, "float32")
    scores[0, 3], scores[0, 8] = 0.6, 0.3
    loss = cl.MarginLoss()
    states(text, f4(np.asarray(loss.call(y_true, scores))[0]))
    scores[0, 3] = 0.95
    states(text, f4(np.asarray(loss.call(y_true, scores))[0]))


def test_e7_parameter_count_of_the_capsule_model():
    states(section("E7. Trial and error against gradients"), f"{cl.capsule_model().count_params():,}")


# --------------------------------------------------------------------------- links and coverage
def heading_anchors(path: Path) -> set[str]:
    """The ids nbconvert gives the headings of a notebook (the site's anchors)."""
    from nbconvert.filters.strings import add_anchor

    ids = set()
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                m = re.match(r"#{1,6}\s+(.*)", line)
                if m:
                    ids.add(unquote(re.search(r'id="([^"]*)"', add_anchor(f"<h2>{m.group(1).strip()}</h2>")).group(1)))
    return ids


@pytest.mark.parametrize("guide", GUIDES)
def test_links_into_notebooks_and_their_sections_resolve(guide):
    pytest.importorskip("nbconvert")
    text = (DOCS / guide).read_text(encoding="utf-8")
    broken = []
    for target, fragment in re.findall(r"\]\((\.\./notebooks/[^)#\s]+\.ipynb)(?:#([^)\s]*))?\)", text):
        path = (DOCS / target).resolve()
        if not path.is_file():
            broken.append(target)
        elif fragment and unquote(fragment) not in heading_anchors(path):
            broken.append(f"{target}#{fragment} (no such section)")
    assert not broken, f"docs/{guide}: " + ", ".join(broken)


@pytest.mark.parametrize("guide", GUIDES)
def test_links_inside_the_docs_resolve(guide):
    text = (DOCS / guide).read_text(encoding="utf-8")
    for target, fragment in re.findall(r"\]\(([\w.-]+\.md)?(?:#([^)\s]*))?\)", text):
        page = DOCS / (target or guide)
        assert page.is_file(), f"docs/{guide} links {target}"
        if fragment:
            anchors = re.findall(r'<a name="([^"]+)"></a>', page.read_text(encoding="utf-8"))
            assert fragment in anchors, f"docs/{guide} links {target}#{fragment}: no <a name> there"


def test_the_map_covers_every_heading_of_the_article():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import build_site
    finally:
        sys.path.remove(str(ROOT / "tools"))
    rows = build_site.article_map(DOCS / "teaching.md")
    headings = [h for h, _ in rows]
    assert headings == [h for h in ARTICLE_HEADINGS if h in headings], "headings out of the article's order"
    assert set(ARTICLE_HEADINGS) <= set(headings), set(ARTICLE_HEADINGS) - set(headings)
    assert all(notebooks for _, notebooks in rows), [h for h, n in rows if not n]


def test_the_route_takes_90_minutes():
    route = section("The 90-minute route")
    minutes = [int(m) for m in re.findall(r"^\|\s*\d+\s*\|\s*(\d+)\s*\|", route, re.MULTILINE)]
    assert len(minutes) >= 8 and sum(minutes) == 90, minutes


def slider_notebooks():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import classroom
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return [p for p in NOTEBOOKS if classroom.slider_cells(nbformat.read(p, as_version=4))]


def test_classroom_mode_is_listed_for_every_notebook_with_sliders():
    with_sliders = slider_notebooks()
    assert len(with_sliders) >= 9
    listed = section("Classroom mode for every notebook with sliders")
    classroom_md = (DOCS / "classroom.md").read_text(encoding="utf-8")
    for path in with_sliders:
        assert f"tools/classroom.py notebooks/{path.name}`" in listed, f"teaching.md: no classroom command for {path.name}"
        assert re.search(rf"^\|\s*{path.name[:2]} ", classroom_md, re.MULTILINE), f"classroom.md: no row for {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_notebook_has_a_paragraph_in_the_chinese_guide(path):
    zh = (DOCS / "zh-guide.md").read_text(encoding="utf-8")
    m = re.search(rf"^## {path.name[:2]} · ([^\n]+)\n\n(.+?)(?=\n## |\Z)", zh, re.MULTILINE | re.DOTALL)
    assert m, f"docs/zh-guide.md has no '## {path.name[:2]} · ...' section"
    paragraph = m.group(2)
    assert f"../notebooks/{path.name}" in paragraph, f"the {path.name[:2]} paragraph does not link {path.name}"
    assert len(re.findall(r"[\u4e00-\u9fff]", paragraph)) > 80, "a paragraph in Chinese, please"
