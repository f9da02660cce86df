"""Headless Chromium for the browser tests: Debian's package driven by Playwright, never a downloaded browser."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CAPSULE_LESSON_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def why_no_browser() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (it is in the test extra: pip install -e '.[test]')"
    if not CHROMIUM.exists():
        # conftest.py's summary line counts skips whose reason starts with these words
        return (f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package (.ci/run does); "
                "this test never lets Playwright download a browser")
    return None


NO_BROWSER = why_no_browser()
needs_browser = pytest.mark.skipif(NO_BROWSER is not None, reason=NO_BROWSER or "")


# --------------------------------------------------------------------------- Chinese text: glyphs or empty boxes?
#: The CJK fonts the site's CSS names (tools/site_template/course/index.html.j2), in its order.
CJK_FONTS = ("Noto Sans CJK SC", "Noto Serif CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei")
CJK_CHAR = r"[\u3400-\u9fff\uf900-\ufaff]"
CJK_FAMILY = re.compile(r"CJK|Source Han|PingFang|YaHei|WenQuanYi|Droid Sans Fallback|AR PL")   # fonts with Chinese
NOTDEF = "\U0010fffd"   # a code point no font draws: what a missing glyph looks like (the .notdef box)


def platform_fonts(page, selector: str) -> list[dict]:
    """The fonts Chromium drew the text of the first element matching ``selector`` with.

    DevTools' ``CSS.getPlatformFontsForNode``: one entry per font actually used, with ``familyName`` and
    ``glyphCount`` (how many characters of the element's text, its children's included, it drew).
    """
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        assert node, f"no element matches {selector!r}"
        return cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    finally:
        cdp.detach()


def glyph_pictures(page, texts: list[str], inside: str = "main") -> list[bytes]:
    """Screenshots of each text drawn large, in boxes of one size, in the page's own font (as inside ``inside``).

    Two different characters must give two different pictures; a character without a font gives the same
    picture as :data:`NOTDEF`.
    """
    page.evaluate("""([texts, inside]) => {
        const host = document.createElement('div');
        host.id = 'glyph-probe';
        host.style.cssText = 'position:fixed;left:0;top:0;z-index:99999;background:#fff;padding:4px;';
        for (const t of texts) {
            const s = document.createElement('span');
            s.textContent = t;
            s.style.cssText = 'display:inline-block;width:72px;height:72px;font-size:56px;line-height:72px;'
                            + 'text-align:center;overflow:hidden;color:#000;';
            host.appendChild(s);
        }
        (document.querySelector(inside) || document.body).appendChild(host);
    }""", [texts, inside])
    page.evaluate("document.fonts.ready")
    spans = page.locator("#glyph-probe > span")
    pictures = [spans.nth(k).screenshot() for k in range(len(texts))]
    page.evaluate("document.getElementById('glyph-probe').remove()")
    return pictures


def cjk_rendering(page, selector: str) -> dict:
    """How the Chinese text of ``selector`` is drawn: the fonts used, and the glyph picture test."""
    fonts = platform_fonts(page, selector)
    text = page.evaluate("sel => document.querySelector(sel).textContent", selector)   # what the fonts drew
    chars = re.findall(CJK_CHAR, text)
    distinct = list(dict.fromkeys(chars))[:2]
    pictures = glyph_pictures(page, [*distinct, NOTDEF]) if len(distinct) == 2 else []
    return {
        "fonts": fonts,
        "cjk_chars": len(chars),             # Chinese characters (punctuation not counted)
        "cjk_glyphs": sum(f["glyphCount"] for f in fonts if CJK_FAMILY.search(f["familyName"])),   # punctuation too
        "chars": distinct,
        "two_chars_differ": bool(pictures) and pictures[0] != pictures[1],
        "not_boxes": bool(pictures) and pictures[0] != pictures[2] and pictures[1] != pictures[2],
        "font_family": page.evaluate("sel => getComputedStyle(document.querySelector(sel)).fontFamily", selector),
    }


def load_tool(name):
    """A module of the repository's tools/ folder (``classroom``, ``build_site``), imported by name."""
    tools = str(Path(__file__).resolve().parent.parent / "tools")
    sys.path.insert(0, tools)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(tools)
