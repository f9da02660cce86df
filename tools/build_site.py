"""Render the course as a static website: a contents page, every notebook with its committed outputs, and the guides.

    .venv/bin/python tools/build_site.py              # writes site/ (open site/index.html)
    .venv/bin/python tools/build_site.py --out DIR    # somewhere else
    .venv/bin/python tools/build_site.py --mathjax-url URL   # load MathJax 2 from URL instead of the site's copy

Nothing is executed: the pages show the outputs stored in the notebooks. Rendering is nbconvert's HTML exporter
with JupyterLab's look (template tools/site_template/course, which adds previous / contents / next links).
The guides (docs/teaching.md, docs/glossary.md, docs/zh-guide.md) become pages linked from the contents page,
which also lists the article's headings each notebook covers (read from the map in docs/teaching.md).
Fonts: the CSS names CJK fallbacks after the Latin ones, so the Chinese text shows wherever one of them is installed.
Math stays TeX for MathJax 2, which the site carries itself: the copy in the PyPI package
``jupyter-server-mathjax`` is copied into ``site/mathjax/``, so formulas render offline too. Sliders need a kernel: on the site each one is replaced by a note (the notebook draws each
slider's figure once with its default values beforehand, so the picture is still there). Links between notebooks are rewritten to the pages;
repository files the notebooks or the README link to are copied next to the pages, so every link resolves.
"""

from __future__ import annotations

import argparse
import html
import posixpath
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import mistune
import nbformat
from mistune.core import BlockState
from mistune.renderers.markdown import MarkdownRenderer
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "site_template"
SITE_TITLE = "Capsule Lesson"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
SLIDER_NOTE = ('<div class="course-slider-note">An interactive slider stands here; it needs a running Python kernel. '
               'Open this notebook in JupyterLab (<code>bash run.sh lab</code>) or in classroom mode '
               '(<code>python tools/classroom.py {notebook}</code>) to move it.</div>')


# The guides: (markdown file, ISO 639-1 code of its language, how the contents page introduces it)
GUIDES = [
    ("docs/teaching.md", "en", "a 90-minute route through the course, a notation card, the article's headings "
                               "mapped to notebook sections, in-class exercises with answers, the offline checklist"),
    ("docs/glossary.md", "en", "the article's Chinese terms beside the course's English, with symbols and notebooks"),
    ("docs/zh-guide.md", "zh", "每个笔记本一段中文说明，附链接 (one paragraph in Chinese per notebook)"),
]
ARTICLE = "https://kexue.fm/archives/4819"
HEADING_MAP = "docs/teaching.md"   # the table of this section says which notebooks cover each article heading:
HEADING_MAP_SECTION = "The article, heading by heading"
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass
class Page:
    source: Path          # the notebook (or README.md for the contents page)
    href: str             # path of the page inside the site, e.g. "notebooks/03_squash.html"
    title: str
    blurb: str = ""       # one line for the contents page
    language: str = "en"  # ISO 639-1 code for <html lang>


class ReplaceWidgets(Preprocessor):
    """Widget views become a short note (a static page has no kernel to drive them)."""

    notebook = ""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            outputs = []
            for out in cell.get("outputs", []):
                if WIDGET_MIME in out.get("data", {}):
                    out = nbformat.v4.new_output(
                        "display_data", data={"text/html": SLIDER_NOTE.format(notebook=self.notebook)})
                outputs.append(out)
            cell.outputs = outputs
        return cell, resources


MARKDOWN_AST = mistune.create_markdown(renderer=None, plugins=["table"])   # nbconvert's own Markdown parser
AS_MARKDOWN = MarkdownRenderer()


def text_of(tokens) -> str:
    """The plain text of Markdown tokens: no emphasis, links or code marks."""
    return "".join(t.get("raw", "") if t["type"] in ("text", "codespan") else text_of(t.get("children", []))
                   for t in tokens)


def links_of(tokens) -> list[str]:
    """Every link target in Markdown tokens, in order."""
    found = []
    for t in tokens:
        if t["type"] == "link":
            found.append(t["attrs"]["url"])
        found += links_of(t.get("children", []))
    return found


def heading_texts(markdown: str):
    """(level, plain text) of each heading of a Markdown text."""
    return [(t["attrs"]["level"], text_of(t["children"])) for t in MARKDOWN_AST(markdown) if t["type"] == "heading"]


def table_rows(tokens):
    """The body rows of the Markdown tables among ``tokens``, each a list of cells (lists of inline tokens)."""
    for t in tokens:
        if t["type"] == "table":
            for part in t["children"]:
                if part["type"] == "table_body":
                    yield from ([cell["children"] for cell in row["children"]] for row in part["children"])


def markdown_headings(nb):
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            yield from (text for _, text in heading_texts(cell.source))


def plain(markdown: str) -> str:
    """A heading as plain text (no emphasis, links or code marks)."""
    return text_of(MARKDOWN_AST(markdown)[0].get("children", [])).strip() if markdown.strip() else ""


def readme_parts(readme: str) -> tuple[str, str, dict[str, tuple[str, str]]]:
    """(title line, introduction, {notebook file name: (article sections, what it does)}) from README.md."""
    lines = readme.splitlines()
    title = next((l for l in lines if l.startswith("# ")), f"# {SITE_TITLE}")
    start = lines.index(title) + 1 if title in lines else 0
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    intro = "\n".join(lines[start:end]).strip()
    rows = {}
    for cells in table_rows(MARKDOWN_AST(readme)):
        links = links_of(cells[0]) if len(cells) >= 3 else []
        target = links[0].removeprefix("./") if links else ""
        if target.startswith("notebooks/") and target.endswith(".ipynb"):
            rows[target.removeprefix("notebooks/")] = tuple(
                AS_MARKDOWN.render_children({"children": c}, BlockState()).strip() for c in cells[1:3])
    return title, intro, rows


def article_map(path: Path, section: str = HEADING_MAP_SECTION) -> list[tuple[str, list[str]]]:
    """[(article heading, [notebook file names])] from the table in the section ``section`` of ``path``.

    A row counts when its first cell holds Chinese text (the heading, maybe followed by an English gloss in
    parentheses); the notebooks are the ``notebooks/NN_*.ipynb`` files the row links, in order, without repeats.
    """
    if not path.is_file():
        return []
    tokens = MARKDOWN_AST(path.read_text(encoding="utf-8"))
    start = next((i for i, t in enumerate(tokens) if t["type"] == "heading"
                  and text_of(t["children"]).strip() == section), None)
    if start is None:
        return []
    level = tokens[start]["attrs"]["level"]
    stop = next((i for i in range(start + 1, len(tokens)) if tokens[i]["type"] == "heading"
                 and tokens[i]["attrs"]["level"] <= level), len(tokens))
    rows = []
    for cells in table_rows(tokens[start + 1:stop]):
        first = text_of(cells[0])
        if len(cells) < 2 or not CJK.search(first):
            continue
        heading = first.split("(")[0].split("（")[0].strip()
        names = [posixpath.basename(url.split("#")[0]) for c in cells[1:] for url in links_of(c)
                 if re.search(r"notebooks/\d\d_[^/#]*\.ipynb", url)]
        rows.append((heading, list(dict.fromkeys(names))))
    return rows


def headings_by_notebook(rows: list[tuple[str, list[str]]]) -> dict[str, list[str]]:
    by = {}
    for heading, notebooks in rows:
        for name in notebooks:
            by.setdefault(name, [])
            if heading not in by[name]:
                by[name].append(heading)
    return by


def contents_notebook(readme_path: Path, pages: list[Page], guides: list[Page] = (),
                      article_rows: list[tuple[str, list[str]]] = ()):
    title, intro, _ = readme_parts(readme_path.read_text(encoding="utf-8"))
    items = "\n".join(f"{i}. [{p.title}]({p.source.as_posix()})" + (f" — {p.blurb}" if p.blurb else "")
                      for i, p in enumerate(pages, 1))
    by_name = {p.source.name: p for p in pages}
    guide_items = "\n".join(f"- [{g.title}]({g.source.as_posix()}) — {g.blurb}" for g in guides)
    article_items = "\n".join(
        f"- **{heading}** → " + (", ".join(f"[{name[:2]}]({by_name[name].source.as_posix()})"
                                          for name in sorted(notebooks) if name in by_name) or "—")
        for heading, notebooks in article_rows)
    how = ("## Run it yourself\n\n"
           "These pages show the notebooks with their stored outputs. To move the sliders, clone the repository "
           "and run `bash run.sh lab` (JupyterLab), or project only the sliders with "
           "`python tools/classroom.py notebooks/04_dynamic_routing.ipynb` (classroom mode, "
           "see [docs/classroom.md](docs/classroom.md)).")
    nb = nbformat.v4.new_notebook(metadata={"title": SITE_TITLE})
    nb.cells = [nbformat.v4.new_markdown_cell(f"{title}\n\n{intro}"),
                nbformat.v4.new_markdown_cell(f"## Contents\n\n{items}")]
    if guide_items:
        nb.cells.append(nbformat.v4.new_markdown_cell(f"## For teachers and for the article's readers\n\n{guide_items}"))
    if article_items:
        nb.cells.append(nbformat.v4.new_markdown_cell(
            f"## The article, heading by heading\n\nThe headings of [the article]({ARTICLE}) and the notebooks "
            f"that cover them (sections in the [teacher's guide]({HEADING_MAP})):\n\n{article_items}"))
    nb.cells.append(nbformat.v4.new_markdown_cell(how))
    return nb


HREF = re.compile(r'(?P<attr>\b(?:href|src))="(?P<url>[^"]*)"')


def relative_href(from_href: str, to_href: str) -> str:
    """The link from one site page to another (both given relative to the site root)."""
    return posixpath.relpath(to_href, posixpath.dirname(from_href) or ".")


def rewrite_links(page_html: str, page: Page, pages_by_source: dict[Path, Page], out: Path,
                  markdown_pages: dict[Path, Page]) -> str:
    """Point links at the site's pages; copy linked repository files into the site.

    A link to another markdown file of the repository (e.g. docs/classroom.md) is queued in ``markdown_pages``
    to be rendered as a page of its own.
    """
    page_dir = (ROOT / page.source).parent

    def fix(m):
        url = html.unescape(m.group("url"))
        if not url or url.startswith(("#", "/", "data:", "mailto:", "javascript:")) or re.match(r"\w+://", url):
            return m.group(0)
        path, _, fragment = url.partition("#")
        target = (page_dir / unquote(path)).resolve()
        try:
            rel = target.relative_to(ROOT)
        except ValueError:
            return m.group(0)             # outside the repository: left as it is (the site test flags it)
        if target in pages_by_source:
            new = pages_by_source[target].href
        elif target in markdown_pages:
            new = markdown_pages[target].href
        elif target.suffix == ".md" and target.is_file():
            new = markdown_pages.setdefault(target, Page(rel, rel.with_suffix(".html").as_posix(),
                                                         plain(next(markdown_headings_of(target), rel.stem)))).href
        elif target.is_file():
            new = rel.as_posix()
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(target, out / rel)
        else:
            return m.group(0)             # a missing file: left as it is (the site test flags it)
        new = relative_href(page.href, new) + (f"#{fragment}" if fragment else "")
        return f'{m.group("attr")}="{html.escape(new, quote=True)}"'

    return HREF.sub(fix, page_html)


def markdown_headings_of(path: Path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(path.read_text(encoding="utf-8"))]
    return markdown_headings(nb)


def nav(page: Page, prev: Page | None, next_: Page | None, contents: Page) -> dict:
    course = {"site_title": SITE_TITLE, "contents": relative_href(page.href, contents.href), "prev": None,
              "next": None}
    for key, other in (("prev", prev), ("next", next_)):
        if other is not None:
            course[key] = {"href": relative_href(page.href, other.href), "title": other.title}
    return course


MATHJAX_DIR = "mathjax"
MATHJAX_CONFIG = "?config=TeX-AMS-MML_HTMLorMML-full,Safe"   # configs the jupyter-server-mathjax copy holds


def copy_mathjax(out: Path) -> None:
    """Copy MathJax 2 (from the ``jupyter-server-mathjax`` package) into ``out/mathjax``."""
    try:
        import jupyter_server_mathjax
    except ImportError as error:
        raise SystemExit("the site's offline MathJax comes from the package jupyter-server-mathjax "
                         "(pip install -e '.[test]'), or pass --mathjax-url") from error
    shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", out / MATHJAX_DIR)


MARKER = ".capsule-lesson-site"   # marks a folder this script made, so a rebuild may delete it


def build(out: Path = ROOT / "site", mathjax_url: str | None = None, quiet: bool = False) -> list[Path]:
    """Render the contents page and every notebook into ``out``; returns the pages written."""
    out = Path(out).resolve()
    if out.exists():
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise SystemExit(f"{out} exists and was not made by this script: choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by tools/build_site.py; deleted and rewritten by each build\n")

    readme = ROOT / "README.md"
    _, _, rows = readme_parts(readme.read_text(encoding="utf-8"))
    article_rows = article_map(ROOT / HEADING_MAP)
    covered = headings_by_notebook(article_rows)
    contents = Page(readme.relative_to(ROOT), "index.html", SITE_TITLE)
    pages = []
    notebooks = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        title = plain(next(markdown_headings(nb), path.stem))
        _, what = rows.get(path.name, ("", ""))
        article = "、".join(covered.get(path.name, []))
        blurb = " — ".join(x for x in (f"article: {article}" if article else "", what) if x)
        page = Page(path.relative_to(ROOT), f"notebooks/{path.stem}.html", title, blurb)
        pages.append(page)
        notebooks[page.href] = nb
    pages_by_source = {(ROOT / p.source).resolve(): p for p in [contents, *pages]}
    markdown_pages: dict[Path, Page] = {}
    guides = []
    for name, language, blurb in GUIDES:
        path = ROOT / name
        if not path.is_file():
            raise SystemExit(f"the guide {name} is missing")
        guide = Page(path.relative_to(ROOT), Path(name).with_suffix(".html").as_posix(),
                     plain(next(markdown_headings_of(path), path.stem)), blurb, language)
        markdown_pages[path.resolve()] = guide
        guides.append(guide)

    exporter = HTMLExporter(template_name="course", extra_template_basedirs=[str(TEMPLATES)])
    if mathjax_url is None:
        copy_mathjax(out)
    widgets = ReplaceWidgets()
    exporter.register_preprocessor(widgets, enabled=True)

    def render(page: Page, nb, course: dict) -> Path:
        widgets.notebook = page.source.as_posix()
        exporter.language_code = page.language
        exporter.mathjax_url = mathjax_url or relative_href(page.href, f"{MATHJAX_DIR}/MathJax.js") + MATHJAX_CONFIG
        body, _ = exporter.from_notebook_node(nb, resources={"course": course})
        body = rewrite_links(body, page, pages_by_source, out, markdown_pages)
        target = out / page.href
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
        if not quiet:
            print(f"wrote {target}")
        return target

    written = [render(contents, contents_notebook(readme, pages, guides, article_rows),
                      nav(contents, None, pages[0] if pages else None, contents))]
    for i, page in enumerate(pages):
        nb = notebooks[page.href]
        nb.metadata["title"] = f"{page.title} · {SITE_TITLE}"
        nb.metadata.pop("widgets", None)     # no widget manager on a static page
        written.append(render(page, nb, nav(page, pages[i - 1] if i else contents,
                                            pages[i + 1] if i + 1 < len(pages) else None, contents)))
    done = set()
    while set(markdown_pages) - done:            # pages for the repository's markdown files linked so far
        source = sorted(set(markdown_pages) - done)[0]
        done.add(source)
        page = markdown_pages[source]
        nb = nbformat.v4.new_notebook(metadata={"title": f"{page.title} · {SITE_TITLE}"})
        nb.cells = [nbformat.v4.new_markdown_cell(source.read_text(encoding="utf-8"))]
        written.append(render(page, nb, nav(page, None, None, contents)))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "site", help="output folder (default: site/)")
    parser.add_argument("--mathjax-url", help="where pages load MathJax 2 from (default: the site's own copy)")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    pages = build(args.out, args.mathjax_url, args.quiet)
    print(f"{len(pages)} pages in {args.out}; open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
