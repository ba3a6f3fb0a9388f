"""Open reports in a real headless browser (Debian's ``chromium``) and check they render.

``python -m toolkit.browser_check reports/index.html`` loads the index and every report it
links to, and fails (exit 1) when a page does not load, has no table, an inline figure does
not decode, or an inline figure is (nearly) empty: :func:`check_figures` decodes each figure
with Pillow (no browser needed) and flags one whose pixels are nearly all one colour, or
whose axes (a box drawn by dark spines) hold nothing inside. Used by ``make browser-check``
and by the test suite when chromium is there.
"""

import base64
import binascii
import html
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
]

# Runs in the page: counts images that failed to decode, prints it into the DOM.
_PROBE = (
    "<script>window.addEventListener('load',()=>{const bad=[...document.images]"
    ".filter(i=>!(i.complete&&i.naturalWidth>0)).length;"
    "document.body.setAttribute('data-broken-images',String(bad));"
    "document.body.setAttribute('data-images',String(document.images.length));});</script>"
)


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def dump_dom(html_path, chromium=None, timeout=60):
    """The DOM of ``html_path`` after load, as chromium serialises it."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise RuntimeError("chromium not found (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        # a probed copy next to the original, so relative links still resolve
        folder = os.path.dirname(os.path.abspath(html_path))
        fd, probed = tempfile.mkstemp(suffix=".html", dir=folder, prefix=".probe-")
        with os.fdopen(fd, "w") as fh, open(html_path, encoding="utf-8") as src:
            fh.write(src.read().replace("</body>", _PROBE + "</body>"))
        try:
            done = subprocess.run(
                [
                    chromium,
                    *_FLAGS,
                    f"--user-data-dir={profile}",
                    "--virtual-time-budget=5000",
                    "--dump-dom",
                    f"file://{probed}",
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        finally:
            os.remove(probed)
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed on {html_path}: {done.stderr.strip()[-300:]}")
    return done.stdout


_INLINE_PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]*)")


def _runs(mask):
    """(start, end) of each run of True in a 1-D boolean array."""
    import numpy as np

    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def _axes_boxes(gray, min_side=40, slack=4):
    """Rectangles (top, bottom, left, right) framed by dark lines: the axes of a plot.

    Two dark horizontal lines of the same extent (``slack`` pixels either way), at least
    ``min_side`` long and apart, joined at both ends by dark vertical lines.
    """
    import numpy as np

    dark = gray < 100
    runs = np.array([(y, a, b) for y, line in enumerate(dark) for a, b in _runs(line) if b - a >= min_side]).reshape(
        -1, 3
    )
    filled = np.vstack([np.zeros((1, dark.shape[1]), int), np.cumsum(dark, axis=0)])

    def spine(lo, hi, top, bottom):  # the dark columns in [lo, hi) over the whole height
        xs = np.arange(max(lo, 0), min(hi, dark.shape[1]))
        return xs[(filled[bottom, xs] - filled[top, xs]) >= 0.98 * (bottom - top)]

    boxes = []
    for y, a, b in runs:
        same = (np.abs(runs[:, 1] - a) <= slack) & (np.abs(runs[:, 2] - b) <= slack)
        below = runs[same & (runs[:, 0] - y >= min_side)]
        for y2 in below[:, 0][::-1]:  # the outermost frame first
            # tick marks on the spines make the lines stick out a few pixels: search inwards
            left, right = spine(a - slack, a + 3 * slack, y, y2 + 1), spine(b - 3 * slack, b + slack, y, y2 + 1)
            if len(left) and len(right) and right.min() - left.max() >= min_side:
                if not any(abs(y - t) <= slack and abs(y2 - u) <= slack for t, u, _, _ in boxes):
                    boxes.append((int(y), int(y2), int(left.max()), int(right.min())))
                break
    return boxes


def blank_reason(png_bytes, one_colour=0.995, min_ink=8):
    """Why a PNG figure is (nearly) empty, or ``None`` when something is drawn.

    Flags an image whose most common colour covers ``one_colour`` of its pixels or more,
    and a plot with axes whose inside (spines excluded) has fewer than ``min_ink`` pixels
    that differ clearly from its background (gridlines are too faint to count). A legend
    inside otherwise empty axes counts as drawn.
    """
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(png_bytes)) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.int32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    _, counts = np.unique(packed, return_counts=True)
    share = counts.max() / packed.size
    if share >= one_colour:
        return f"{share:.1%} of its pixels are one colour"
    for top, bottom, left, right in _axes_boxes(rgb.mean(axis=2)):
        inside = rgb[top + 3 : bottom - 3, left + 3 : right - 3].reshape(-1, 3)
        if not len(inside):
            continue
        colours, counts = np.unique(packed[top + 3 : bottom - 3, left + 3 : right - 3], return_counts=True)
        background = np.array([(colours[counts.argmax()] >> s) & 255 for s in (16, 8, 0)])
        if counts.max() < 0.5 * len(inside) or background.mean() < 128:
            continue  # an image fills it, or a dark patch of one (imshow): not empty axes
        ink = int((np.abs(inside - background).max(axis=1) > 80).sum())
        if ink < min_ink:
            return f"an axes box ({right - left}x{bottom - top} px) has nothing drawn inside"
    return None


def check_figures(html_path):
    """Problems of the inline PNG figures of one page, found with Pillow (no browser):
    a figure that does not decode, or one that is (nearly) empty (:func:`blank_reason`)."""
    from PIL import UnidentifiedImageError

    with open(html_path, encoding="utf-8") as fh:
        page = fh.read()
    problems = []
    for number, match in enumerate(_INLINE_PNG.finditer(page), 1):
        try:
            data = base64.b64decode(match.group(1), validate=True)
            reason = blank_reason(data)
        except (binascii.Error, UnidentifiedImageError, OSError, ValueError) as exc:
            problems.append(f"{html_path}: figure {number} did not decode ({type(exc).__name__})")
            continue
        if reason:
            problems.append(f"{html_path}: figure {number} is empty: {reason}")
    return problems


def check_page(html_path, chromium=None):
    """Problems found on one page (empty list: it renders and every figure shows something)."""
    dom = dump_dom(html_path, chromium)
    problems = check_figures(html_path)
    if "<table" not in dom:
        problems.append(f"{html_path}: no table rendered")
    broken = re.search(r'data-broken-images="(\d+)"', dom)
    if broken is None:
        problems.append(f"{html_path}: page did not finish loading")
    elif broken.group(1) != "0":
        problems.append(f"{html_path}: {broken.group(1)} image(s) did not decode")
    return problems


def check_index(index_path, chromium=None):
    """Check the index page and every report it links to."""
    problems = check_page(index_path, chromium)
    links = report_links(index_path)
    for path in links:
        problems += check_page(path, chromium)
    return problems, len(links)


def report_links(index_path):
    """The reports an index links to, as paths, each once (the index links a run from its
    claims and from its row)."""
    folder = os.path.dirname(os.path.abspath(index_path))
    with open(index_path, encoding="utf-8") as fh:
        links = re.findall(r"""href=["']([^"']+/report\.html)["']""", fh.read())
    paths = [os.path.join(folder, urllib.parse.unquote(html.unescape(link))) for link in links]
    return list(dict.fromkeys(paths))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not os.path.isfile(argv[0]):
        print(f"error: pass the path of an index.html; received {argv!r}", file=sys.stderr)
        return 2
    if find_chromium() is None:
        print("error: chromium not found; install it with `apt-get install chromium`", file=sys.stderr)
        return 2
    problems, count = check_index(argv[0])
    for p in problems:
        print(p)
    print(f"browser check: index + {count} report(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
