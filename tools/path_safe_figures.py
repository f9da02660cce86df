"""Re-encode the PNG figures stored in notebooks so their base64 text holds nothing that reads as a file path.

    python tools/path_safe_figures.py notebooks/*.ipynb           # rewrite the figures in place
    python tools/path_safe_figures.py --check notebooks/*.ipynb   # only report; exit 1 if any would change

Base64 uses ``/`` as a digit, so a stored figure sooner or later holds text such as ``+/OH/+``, which tools that
look for absolute paths in a repository (``/home/...``, ``/tmp/...``) flag as one. Run this after executing a
notebook: it treats the figures of the cell outputs and those kept in the notebook's saved widget state. The
pixels stay exactly the same (checked on every figure); only the compressed stream is laid out again: the image
data is deflated in pieces, each ending a deflate block and filling its own IDAT chunk, and each piece's length
is chosen so that, in the base64 text, every ``/`` follows a letter or a digit. Text chunks (matplotlib's
"Software" note) are dropped. The result is deterministic, and running it again changes nothing.
"""

import argparse
import base64
import io
import re
import struct
import sys
import zlib

import nbformat
import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}
SLASH_AFTER_NON_ALNUM = re.compile(r"(?<![A-Za-z0-9])/")
PIECES = (16384, 4096, 1024, 256)    # raw bytes deflated per IDAT chunk: shorter when longer ones keep failing
TRIES_PER_PIECE = 64


def path_safe(text, start=0):
    """True when every '/' in ``text[start:]`` follows a letter or a digit (so nothing in it starts a path)."""
    return SLASH_AFTER_NON_ALNUM.search(text, start) is None


def chunks(png):
    """The (type, data) chunks of a PNG file, in order."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file: the signature is missing")
    position, out = len(PNG_SIGNATURE), []
    while position < len(png):
        (length,) = struct.unpack(">I", png[position:position + 4])
        kind = png[position + 4:position + 8]
        out.append((kind, png[position + 8:position + 8 + length]))
        position += 12 + length
    return out


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def fixed_base64(data):
    """The base64 characters of ``data`` that bytes appended later cannot change (no padding)."""
    whole, rest = divmod(len(data), 3)
    text = base64.b64encode(data).decode().rstrip("=")
    return text[:4 * whole + rest]      # a trailing byte fixes one more character, two bytes fix two


def reencode(png):
    """The same image as ``png`` (bytes), laid out so that its base64 text is path-safe."""
    parts = chunks(png)
    head = PNG_SIGNATURE + b"".join(chunk(k, d) for k, d in parts
                                    if k not in TEXT_CHUNKS and k not in (b"IDAT", b"IEND"))
    raw = zlib.decompress(b"".join(d for k, d in parts if k == b"IDAT"))
    checked = fixed_base64(head)
    if not path_safe(checked) or not checked[-1].isalnum():
        raise ValueError("the PNG header chunks alone already read as a path")
    # Depth-first search over the piece lengths: when no length works at some offset (the start of every
    # candidate is already fixed by the bits before it), step back and take the previous piece's next length.
    stack = [(head, zlib.compressobj(9), 0, checked, _piece_ends(0, len(raw)))]
    while stack[-1][2] < len(raw):
        out, deflate, start, checked, ends = stack[-1]
        for end in ends:
            trial = deflate.copy()
            last = end == len(raw)
            body = trial.compress(raw[start:end]) + trial.flush(zlib.Z_FINISH if last else zlib.Z_BLOCK)
            if not body:    # an empty IDAT chunk is legal, but some decoders stop reading there
                continue
            candidate = out + chunk(b"IDAT", body) + (chunk(b"IEND", b"") if last else b"")
            text = base64.b64encode(candidate).decode() if last else fixed_base64(candidate)
            # Ending on a letter or digit leaves no constraint on the text the next piece adds.
            if path_safe(text, start=len(checked)) and (last or text[-1].isalnum()):
                stack.append((candidate, trial, end, text, _piece_ends(end, len(raw))))
                break
        else:
            stack.pop()
            if not stack:
                raise RuntimeError("no path-safe layout of this image found")
    return stack[-1][0]


def _piece_ends(start, total):
    """Candidate end offsets for the piece that begins at ``start``: the whole rest first, then shorter pieces."""
    yield total
    for piece in PIECES:
        for length in range(piece, piece - 7 * TRIES_PER_PIECE, -7):
            if start + length < total:
                yield start + length


def pixels(png):
    with Image.open(io.BytesIO(png)) as image:
        return image.mode, np.asarray(image).copy()


def safe_figure(encoded):
    """The path-safe base64 text of one stored figure (unchanged when it already is path-safe)."""
    text = "".join(encoded.split())
    if path_safe(text):
        return encoded
    png = base64.b64decode(text)
    new = reencode(png)
    (mode_a, a), (mode_b, b) = pixels(png), pixels(new)
    if mode_a != mode_b or a.shape != b.shape or not np.array_equal(a, b):
        raise RuntimeError("re-encoding changed the pixels")
    return base64.b64encode(new).decode()


def _mime_bundles(node):
    """Every dict under ``node`` that holds a PNG: cell outputs, and the outputs kept in saved widget state."""
    if isinstance(node, dict):
        if isinstance(node.get("image/png"), str):
            yield node
        for value in node.values():
            yield from _mime_bundles(value)
    elif isinstance(node, list):
        for value in node:
            yield from _mime_bundles(value)


def fix_notebook(path, write=True):
    """Make every stored PNG of the notebook path-safe; returns how many figures changed."""
    notebook = nbformat.read(path, as_version=4)
    changed = 0
    for bundle in _mime_bundles(notebook):
        new = safe_figure(bundle["image/png"])
        if new != bundle["image/png"]:
            bundle["image/png"] = new
            changed += 1
    if changed and write:
        nbformat.write(notebook, path)
    return changed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--check", action="store_true", help="report only; exit 1 if a figure would change")
    args = parser.parse_args()
    total = 0
    for path in args.notebooks:
        changed = fix_notebook(path, write=not args.check)
        total += changed
        if changed:
            print(f"{path}: {changed} figure(s) {'to re-encode' if args.check else 're-encoded'}")
    if args.check and total:
        sys.exit(1)


if __name__ == "__main__":
    main()
