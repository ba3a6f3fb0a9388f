"""Open reports in a real headless browser (Debian's ``chromium``) and check they render.

``python -m toolkit.browser_check reports/index.html`` loads the index and every report it
links to, and fails (exit 1) when a page does not load, has no table, or an inline figure
does not decode. Used by ``make browser-check`` and by the test suite when chromium is there.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--allow-file-access-from-files"]

# Runs in the page: counts images that failed to decode, prints it into the DOM.
_PROBE = ("<script>window.addEventListener('load',()=>{const bad=[...document.images]"
          ".filter(i=>!(i.complete&&i.naturalWidth>0)).length;"
          "document.body.setAttribute('data-broken-images',String(bad));"
          "document.body.setAttribute('data-images',String(document.images.length));});</script>")


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
            done = subprocess.run([chromium, *_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000",
                                   "--dump-dom", f"file://{probed}"], capture_output=True, text=True,
                                  timeout=timeout)
        finally:
            os.remove(probed)
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed on {html_path}: {done.stderr.strip()[-300:]}")
    return done.stdout


def check_page(html_path, chromium=None):
    """Problems found on one page (empty list: it renders)."""
    dom = dump_dom(html_path, chromium)
    problems = []
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
    folder = os.path.dirname(os.path.abspath(index_path))
    with open(index_path, encoding="utf-8") as fh:
        links = re.findall(r"href='([^']+/report\.html)'", fh.read())
    for link in links:
        problems += check_page(os.path.join(folder, link), chromium)
    return problems, len(links)


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
