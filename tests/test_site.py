"""The course website: tools/build_site.py renders every notebook and a contents page, and every link resolves."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, CJK_FONTS, cjk_rendering, load_tool, needs_browser

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
ARTIFACTS = ROOT / "test-artifacts" / "browser"

pytest.importorskip("nbconvert", reason="nbconvert renders the site (pip install -e '.[test]')")

GUIDES = {"docs/teaching.html": "Teacher's guide", "docs/glossary.html": "Glossary · 术语表", "docs/zh-guide.html": "中文导读"}
CJK_FALLBACK_CSS = ", ".join(f'"{font}"' for font in CJK_FONTS) + ", sans-serif"




class Page(HTMLParser):
    """Links (href/src), element ids and visible text of one HTML page."""

    def __init__(self, path: Path):
        super().__init__(convert_charrefs=True)
        self.links, self.ids, self.text, self.scripts = [], set(), [], []
        self._in_script = False
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src"):
            if attrs.get(key) is not None:
                self.links.append((tag, attrs[key]))
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag == "script":
            self._in_script = True
            self.scripts.append(attrs.get("src") or "")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if not self._in_script:
            self.text.append(data)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "site"
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "build_site.py"), "--out", str(out), "-q"],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def pages(site):
    return {path.relative_to(site).as_posix(): Page(path) for path in site.rglob("*.html")}


@pytest.fixture(scope="module")
def sources(site):
    return {path.relative_to(site).as_posix(): path.read_text(encoding="utf-8") for path in site.rglob("*.html")}


def notebook_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if re.match(r"#{1,6}\s", line):
                    return re.sub(r"[*_`]", "", line.lstrip("#").strip())
    raise AssertionError("notebook without a heading")


def test_every_notebook_has_a_page_with_its_title_and_outputs(pages, sources):
    assert NOTEBOOKS, "no notebooks found"
    for path in NOTEBOOKS:
        page_name = f"notebooks/{path.stem}.html"
        assert page_name in pages, f"{path.name} has no page"
        nb = nbformat.read(path, as_version=4)
        text = " ".join(pages[page_name].text)
        assert notebook_title(nb) in text
        # the committed outputs are on the page: one <img> per stored image, no stored widget left behind
        stored = sum("image/png" in out.get("data", {}) for c in nb.cells if c.cell_type == "code"
                     for out in c.get("outputs", []) if WIDGET_MIME not in out.get("data", {}))
        images = sum(1 for tag, url in pages[page_name].links if tag == "img" and url.startswith("data:image/png"))
        assert images == stored, (path.name, images, stored)
        sliders = sum(WIDGET_MIME in out.get("data", {}) for c in nb.cells if c.cell_type == "code"
                      for out in c.get("outputs", []))
        source = sources[page_name]
        assert source.count('<div class="course-slider-note">') == sliders
        assert WIDGET_MIME not in source


def test_contents_page_has_the_readme_introduction_and_every_notebook(pages):
    index = pages["index.html"]
    text = re.sub(r"\s+", " ", " ".join(index.text))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tagline = next(line for line in readme.splitlines() if line.startswith("*") and line.endswith("*"))
    assert tagline.strip("*") in text
    assert "A Jupyter notebook course on capsule networks" in text
    hrefs = {url for tag, url in index.links if tag == "a"}
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}.html" in hrefs, f"contents page does not link {path.name}"


def test_guides_are_pages_linked_from_the_contents_page(pages, sources):
    index_links = {url for tag, url in pages["index.html"].links if tag == "a"}
    for name, title in GUIDES.items():
        assert name in pages, f"the site has no page {name}"
        assert title in " ".join(pages[name].text), (name, title)
        assert name in index_links, f"the contents page does not link {name}"
        rel = dict((kind, url) for url, kind in re.findall(r'<a href="([^"]+)" rel="(prev|next|contents)"', sources[name]))
        assert rel.get("contents") == "../index.html" and "prev" not in rel and "next" not in rel, (name, rel)
    assert '<html lang="zh">' in sources["docs/zh-guide.html"]
    assert '<html lang="en">' in sources["docs/teaching.html"]


def test_contents_page_cites_the_article_headings(pages):
    """Each notebook's line names the article's headings the teacher's guide maps to it; the headings are listed."""
    build_site = load_tool("build_site")
    rows = build_site.article_map(ROOT / build_site.HEADING_MAP)
    assert len(rows) >= 10
    text = re.sub(r"\s+", " ", " ".join(pages["index.html"].text))
    for heading in ("小菜1", "小菜2", "上主菜", "全连接版", "共享版", "反向传播", "我的实验", "亟待优化", "反向传播好不好",
                    "池化好不好"):
        assert heading in [h for h, _ in rows], f"the map in docs/teaching.md has no row for {heading}"
    assert "The article, heading by heading" in text
    for heading, notebooks in rows:
        assert heading in text, heading
    by_notebook = build_site.headings_by_notebook(rows)
    for path in NOTEBOOKS:
        if path.name in by_notebook:
            line = next(l for l in re.split(r"(?=\b\d+\. )", text) if notebook_title(nbformat.read(path, as_version=4)) in l)
            assert "article: " + "、".join(by_notebook[path.name]) in line, (path.name, line[:300])


def test_css_names_cjk_font_fallbacks(sources):
    for name, source in sources.items():
        if name.startswith("mathjax/"):
            continue
        assert source.count(CJK_FALLBACK_CSS) >= 2, f"{name}: the page's CSS does not name the CJK fallbacks"


def test_every_link_resolves(site, pages):
    broken, external = [], set()
    for name, page in pages.items():
        for tag, url in page.links:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https"):
                external.add(parts.netloc)
                continue
            if parts.scheme == "data":
                continue
            assert not parts.scheme and not url.startswith("/"), f"{name}: non-relative link {url}"
            target = (site / name).parent / unquote(parts.path) if parts.path else site / name
            target = target.resolve()
            if site.resolve() not in target.parents or not target.is_file():
                broken.append(f"{name}: {url}")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target.relative_to(site.resolve()).as_posix()].ids
                if not {parts.fragment, unquote(parts.fragment)} & ids:   # as browsers match fragments
                    broken.append(f"{name}: {url} (no such anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)
    assert external, "expected the article's links at least"


def test_navigation_links_follow_the_course_order(sources):
    order = ["index.html"] + [f"notebooks/{p.stem}.html" for p in NOTEBOOKS]
    for i, name in enumerate(order):
        rel = {}
        for url, kind in re.findall(r'<a href="([^"]+)" rel="(prev|next|contents)"', sources[name]):
            rel.setdefault(kind, set()).add(os.path.normpath(Path(name).parent / url))
        assert rel.get("contents") == {"index.html"}, (name, rel)
        if i + 1 < len(order):
            assert rel.get("next") == {order[i + 1]}, (name, rel)
        else:
            assert "next" not in rel, (name, rel)
        if i >= 1:
            assert rel.get("prev") == {order[i - 1]}, (name, rel)


INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)([^$\n]+?)(?<!\\)\$")


def math_snippets(nb):
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            source = re.sub(r"`[^`]*`", "", cell.source)        # code spans are not math
            yield from (m.group(0) for m in INLINE_MATH.finditer(source))


def test_math_is_marked_up_for_mathjax(site, pages, sources):
    """Formulas reach the page as TeX between $...$, and the page configures and loads the site's own MathJax."""
    checked = 0
    for path in NOTEBOOKS:
        name = f"notebooks/{path.stem}.html"
        snippets = list(math_snippets(nbformat.read(path, as_version=4)))
        if not snippets:
            continue
        source = sources[name]
        mathjax = [src for src in pages[name].scripts if "mathjax" in src.lower()]
        assert mathjax, f"{name} does not load MathJax"
        local = (site / name).parent / urlsplit(mathjax[0]).path
        assert not urlsplit(mathjax[0]).scheme and local.is_file(), f"{name} loads MathJax from {mathjax[0]}"
        assert "MathJax.Hub.Config" in source and "inlineMath: [ ['$','$']" in source
        text = html.unescape(source)
        missing = [s for s in snippets if s not in text]
        assert not missing, f"{name}: formulas changed on the way to HTML: {missing[:5]}"
        checked += len(snippets)
    assert checked > 20, "expected the notebooks to contain formulas"


def test_no_machine_paths_in_the_site(sources):
    for name, text in sources.items():
        assert str(ROOT) not in text, f"{name} contains the build machine's path"


@pytest.mark.browser
@needs_browser
def test_navigation_works_in_a_browser(site):
    """Click through the site in headless Chromium: contents -> first notebook -> next -> contents."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route(re.compile(r"^https?://"), lambda route: route.abort())   # offline, like the machine
            page.goto((site / "index.html").as_uri())
            first = nbformat.read(NOTEBOOKS[0], as_version=4)
            page.locator("main a", has_text=notebook_title(first)).first.click()
            page.wait_for_url(re.compile(re.escape(NOTEBOOKS[0].stem) + r"\.html$"))
            assert notebook_title(first) in page.title()
            if len(NOTEBOOKS) > 1:
                page.locator(".course-nav-top a[rel=next]").click()
                page.wait_for_url(re.compile(re.escape(NOTEBOOKS[1].stem) + r"\.html$"))
                page.locator(".course-nav-top a[rel=prev]").click()
                page.wait_for_url(re.compile(re.escape(NOTEBOOKS[0].stem) + r"\.html$"))
            page.locator(".course-nav-bottom a[rel=contents]").click()
            page.wait_for_url(re.compile(r"/index\.html$"))
        finally:
            browser.close()


@pytest.mark.browser
@needs_browser
def test_formulas_render_offline_in_a_browser(site):
    """With every http(s) request refused, MathJax typesets each formula: no raw $...$ is left to read."""
    from playwright.sync_api import sync_playwright

    name = "04_dynamic_routing"
    snippets = list(math_snippets(nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)))
    assert len(snippets) > 20
    requested = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route(re.compile(r"^https?://"),
                       lambda route: (requested.append(route.request.url), route.abort()))
            page.goto((site / "notebooks" / f"{name}.html").as_uri())
            page.wait_for_function("window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0"
                                   " && document.querySelectorAll('.MathJax').length > 0", timeout=60_000)
            typeset = page.evaluate("document.querySelectorAll('.MathJax').length")
            sources = page.evaluate("document.querySelectorAll('script[type^=\"math/tex\"]').length")
            text = page.evaluate("document.body.innerText")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "site-math-offline.png"))
        finally:
            browser.close()
    assert typeset == sources >= len(snippets), (typeset, sources, len(snippets))
    assert "Math Processing Error" not in text
    raw = [s for s in snippets if s in text]
    assert not raw, f"formulas left as raw TeX: {raw[:5]}"
    assert not [url for url in requested if "mathjax" in url.lower()], requested


FONTS_CONF = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>{fonts}</dir><cachedir>{cache}</cachedir></fontconfig>
"""


def chinese_guide_in_chromium(p, site, screenshot, env=None) -> dict:
    browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=env)
    try:
        page = browser.new_page(viewport={"width": 1100, "height": 1400})
        page.route(re.compile(r"^https?://"), lambda route: route.abort())
        page.goto((site / "docs" / "zh-guide.html").as_uri())
        page.evaluate("document.fonts.ready")
        page.screenshot(path=str(screenshot), full_page=True)
        return cjk_rendering(page, ".jp-RenderedMarkdown p")
    finally:
        browser.close()


@pytest.mark.browser
@needs_browser
def test_chinese_renders_in_a_browser(site, tmp_path):
    """The 中文导读 in headless Chromium: its Chinese is drawn by a CJK font, as glyphs, not as empty boxes.

    Three checks on the first paragraph: DevTools names the fonts that drew it (a CJK font must draw every
    Chinese character); two different characters drawn large in the page's font give different pictures; and
    neither looks like the box drawn for a code point that no font has. As a control, the same page is opened
    in a Chromium that sees only the DejaVu fonts: there the checks must report boxes. Screenshots:
    test-artifacts/browser/site-zh-guide.png (and site-zh-guide-without-cjk-fonts.png).
    """
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        seen = chinese_guide_in_chromium(p, site, ARTIFACTS / "site-zh-guide.png")
        assert seen["cjk_chars"] > 50, seen
        assert seen["cjk_glyphs"] >= seen["cjk_chars"], (
            f"Chinese characters drawn without a CJK font: {seen['fonts']}. Install one (Debian: fonts-noto-cjk).")
        assert seen["two_chars_differ"] and seen["not_boxes"], (
            f"{seen['chars']} render as identical boxes: no CJK font reaches the page ({seen['fonts']})")
        assert "Noto Sans CJK SC" in seen["font_family"], seen["font_family"]

        dejavu = Path("/usr/share/fonts/truetype/dejavu")
        if not dejavu.is_dir():
            pytest.skip("control without CJK fonts needs the DejaVu fonts in /usr/share/fonts/truetype/dejavu")
        conf = tmp_path / "fonts.conf"
        conf.write_text(FONTS_CONF.format(fonts=dejavu, cache=tmp_path / "fontcache"))
        control = chinese_guide_in_chromium(p, site, ARTIFACTS / "site-zh-guide-without-cjk-fonts.png",
                                            env=dict(os.environ, FONTCONFIG_FILE=str(conf)))
    assert control["cjk_glyphs"] == 0 and not control["not_boxes"], (
        "without CJK fonts the checks should have seen boxes", control)
