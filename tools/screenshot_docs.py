"""Check the built docs in headless Chromium: maths rendered, offline, and screenshots to look at.

    .venv/bin/python tools/screenshot_docs.py [--site _docs] [--out .cache/docs-check] [PAGE.html ...]

Serves the site on 127.0.0.1, with every other host unreachable (so a page that still needs a
CDN shows it), and for each page asks Chromium for the DOM after scripts ran (`--dump-dom`)
and for PNG screenshots: the top of the page and, when the page has maths, the section where
its first display maths appears, and the first printed table. A page fails when MathJax did not turn each `span.math` into an
`mjx-container`, when MathJax reports a TeX error (`mjx-merror`), or when raw TeX (`\\(`,
`\\frac`, `$x^2$`, ...) is left in the visible text. Exit code 1 on any failure.

Needs Debian's `chromium` (`apt-get install -y chromium`); it is `make docs-check`, not part
of `make test`, since CI has no browser.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Raw TeX that would show if maths were not rendered: delimiters, common commands, `$...^...$`.
RAW_TEX = re.compile(
    r"\\\(|\\\)|\\\[|\\\]|\\(?:frac|sum|hat|mathbb|mathbf|mathrm|operatorname|left|right|cdot|log|top|beta|sigma|mid)\b"
    r"|\$[^$\s][^$]*[\\^_{}][^$]*\$"
)
SKIP_TAGS = {"script", "style", "pre", "code", "mjx-container", "noscript", "template", "title"}


class Page(HTMLParser):
    "Collect the visible text outside code and rendered maths, and count maths before and after MathJax."

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.text: list[str] = []
        self.math_spans = self.containers = self.errors = 0
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "span" and re.search(r"\bmath\b", a.get("class") or ""):
            self.math_spans += 1
        if tag == "mjx-container":
            self.containers += 1
        if tag == "mjx-merror":
            self.errors += 1
        if tag in SKIP_TAGS or self.skip:
            self.skip += 1
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if self.skip and self.stack and self.stack[-1] == tag:
            self.stack.pop()
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.text.append(data)


def parse(html_text: str) -> Page:
    p = Page()
    p.feed(html_text)
    return p


def crop(png: Path, top: int, height: int):
    "Keep `height` pixels of a screenshot from `top` down (Pillow comes with matplotlib)."
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(png) as im:
        part = im.crop((0, top, im.width, min(im.height, top + height)))
    part.save(png)


def default_pages(site: Path) -> list[str]:
    "index.html and the two pages with the most maths: notebooks get renamed, so no fixed list."
    count = {p.name: p.read_text(encoding="utf-8").count('class="math') for p in site.glob("*.html") if p.name != "index.html"}
    return ["index.html", *sorted(count, key=lambda k: -count[k])[:2]]


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, httpd.server_address[1]


# `page.html?at=SELECTOR` serves the page with a script that, once MathJax has typeset, writes
# where SELECTOR starts into `<html data-shot-y>`; `--dump-dom` reads it and the screenshot is
# cropped there (a `#fragment` or a scroll in headless screenshots lands in the wrong place).
MEASURE_JS = (
    "<script>addEventListener('load',function(){var go=function(){var e=document.querySelector(%s);"
    "if(e)document.documentElement.dataset.shotY=Math.round(e.getBoundingClientRect().top+window.scrollY)};"
    "(window.MathJax&&MathJax.startup&&MathJax.startup.promise?MathJax.startup.promise:Promise.resolve()).then(go)})</script>"
)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        path, _, query = self.path.partition("?")
        at = urllib.parse.parse_qs(query).get("at")
        if not at or not path.endswith(".html"):
            return super().do_GET()
        body = (Path(self.directory) / urllib.parse.unquote(path).lstrip("/")).read_bytes()
        body = body.replace(b"</body>", (MEASURE_JS % json.dumps(at[0])).encode() + b"</body>", 1)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def chromium(browser: str, *args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    cmd = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        "--disable-dev-shm-usage", "--force-device-scale-factor=1",
        # offline, as a reader without network: any other host fails to resolve
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=15000", *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def check_page(browser: str, base: str, site: Path, name: str, out: Path, size: str) -> list[str]:
    "Screenshot one page and check its maths; return the problems found."
    problems = []
    url = f"{base}/{name}"
    dom = chromium(browser, "--dump-dom", url)
    if dom.returncode or "<html" not in dom.stdout:
        return [f"{name}: chromium --dump-dom failed ({dom.returncode}): {dom.stderr.strip()[-300:]}"]
    built = parse((site / name).read_text(encoding="utf-8"))
    after = parse(dom.stdout)
    text = re.sub(r"\s+", " ", " ".join(after.text))
    raw = sorted(set(m.group(0)[:60] for m in RAW_TEX.finditer(text)))
    if raw:
        problems.append(f"{name}: raw TeX left in the visible text: {raw[:8]}")
    if after.containers < built.math_spans:
        problems.append(f"{name}: {built.math_spans} maths spans in the page but {after.containers} rendered by MathJax")
    if after.errors:
        problems.append(f"{name}: MathJax reports {after.errors} TeX error(s) (mjx-merror)")
    stem = Path(name).stem
    width, height = (int(x) for x in size.split(","))
    shots = [(f"{stem}.png", url, 0)]
    src = (site / name).read_text(encoding="utf-8")
    for what, marker, selector in (("maths", 'class="math display', "mjx-container[display]"), ("table", 'class="dataframe"', "table.dataframe")):
        if marker not in src:
            continue
        m = re.search(r'data-shot-y="(\d+)"', chromium(browser, "--dump-dom", f"{url}?at={urllib.parse.quote(selector)}").stdout)
        if m:
            shots.append((f"{stem}-{what}.png", url, max(0, int(m.group(1)) - 120)))
    for fname, u, top in shots:
        r = chromium(browser, f"--screenshot={out / fname}", f"--window-size={width},{top + height}", u)
        if not (out / fname).exists():
            problems.append(f"{name}: no screenshot ({r.returncode}): {r.stderr.strip()[-300:]}")
        elif top:
            crop(out / fname, top, height)
    print(f"{name}: {built.math_spans} maths spans, {after.containers} rendered, {after.errors} errors, "
          f"{len(raw)} raw TeX fragments; screenshots: {', '.join(str(out / s[0]) for s in shots)}")
    return problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pages", nargs="*", help="pages of the site, relative to it (default: index.html and the two with the most maths)")
    p.add_argument("--site", default=str(ROOT / "_docs"), help="the built site (make docs)")
    p.add_argument("--out", default=str(ROOT / ".cache" / "docs-check"), help="folder for the PNGs")
    p.add_argument("--size", default="1280,1600", help="window size for the screenshots")
    p.add_argument("--browser", default=shutil.which("chromium") or shutil.which("chromium-browser") or "chromium")
    a = p.parse_args(argv)
    site, out = Path(a.site), Path(a.out)
    if not (site / "index.html").exists():
        sys.exit(f"{site}/index.html is missing: run `make docs` first")
    if not shutil.which(a.browser):
        sys.exit("chromium is missing: `apt-get update && apt-get install -y chromium`")
    out.mkdir(parents=True, exist_ok=True)
    a.pages = a.pages or default_pages(site)
    httpd, port = serve(site)
    try:
        problems = [x for name in a.pages for x in check_page(a.browser, f"http://127.0.0.1:{port}", site, name, out, a.size)]
    finally:
        httpd.shutdown()
    for x in problems:
        print("FAIL", x, file=sys.stderr)
    print(f"{len(a.pages)} page(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
