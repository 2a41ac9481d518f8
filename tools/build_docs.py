"""Build the docs site offline into `_docs/`, installing nothing.

    .venv/bin/python tools/build_docs.py

Why not `nbdev_proc_nbs` or `nbdev_docs`: both start with nbdev's `_pre_docs`, whose
`_ensure_quarto` sees no `quarto` on PATH and calls `install`, which runs `sudo`, `curl`
(Quarto's .deb) and then `pip install -e ".[dev]"` with whatever `pip` is first on PATH.
`_pre_docs` also rewrites `causalrec/_modidx.py`, `nbs/nbdev.yml` and `nbs/sidebar.yml`.
This script runs only the step that does the work, `nbdev.serve.proc_nbs` (notebooks ->
`_proc/`, with nbdev's processors), and replaces nbdev's installers with functions that
raise, so no later change can reach them by accident.

Then the pure-Python `smalldocs` renders `_proc/` with the project's `_quarto.yml`, and
MathJax 3 (from the PyPI package `django-static-mathjax`, module `mathjax`) is copied into
`_docs/site_libs/mathjax/`: pages point at that copy instead of smalldocs' KaTeX CDN, so
maths renders with no network. Finally the pages are checked: no script, stylesheet or font
may come from another host, and the pages whose stored outputs show warnings are listed.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MATHJAX_URL_DIR = "site_libs/mathjax"
# What the pages need of MathJax 3's es5 build: the TeX-to-CHTML bundle, the TeX extensions it
# autoloads (\boldsymbol, \mathbb, ...), the CHTML fonts, and the menu/a11y parts it loads lazily.
MATHJAX_PARTS = ["tex-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2", "ui", "a11y"]
# smalldocs writes maths as Pandoc does (`\(...\)` inline, `\[...\]` display, in span.math) and
# asks KaTeX's auto-render for those two delimiters only; MathJax gets the same two.
MATHJAX_CONFIG = (
    "window.MathJax={tex:{inlineMath:[['\\\\(','\\\\)']],displayMath:[['\\\\[','\\\\]']],processEscapes:false},"
    "options:{ignoreHtmlClass:'tex2jax_ignore'},"
    "chtml:{fontURL:'%s/output/chtml/fonts/woff-v2'}};"
)
KATEX_TAG = re.compile(r'<(?:link|script)\b[^>]*https://cdn\.jsdelivr\.net/npm/katex@[^>]*>(?:</script>)?\s*')
OFFSET_META = re.compile(r'<meta name="smalldocs:offset" content="([^"]*)"')
# A script, stylesheet, font or image fetched from another host: the site must work offline.
REMOTE_ASSET = re.compile(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]*"[^>]*>', re.I)
REMOTE_OK = re.compile(r'<link\b[^>]*\brel="(?:canonical|alternate)"', re.I)  # links, not fetched
STDERR_OUTPUT = re.compile(r'class="cell-output cell-output-stderr"(.*?)</div>', re.S)  # warnings, progress bars, errors
# smalldocs notes front matter it does not use; nbdev's processors add `output-file` to every page.
QUIET_WARNINGS = re.compile(r"output-file is not read by smalldocs")


def no_install(*args, **kwargs):
    raise RuntimeError("tools/build_docs.py: nbdev tried to install Quarto or run pip; the docs build installs nothing")


def disarm_nbdev():
    "Replace every nbdev entry point that installs Quarto or runs pip with one that raises."
    import nbdev.quarto as q

    for name in ("install_quarto", "install", "_install_linux", "_install_mac", "_ensure_quarto"):
        if hasattr(q, name):
            setattr(q, name, no_install)


def proc_nbs(n_workers: int):
    "Process the notebooks into a fresh `_proc/` with nbdev's processors, and nothing else of `_pre_docs`."
    disarm_nbdev()
    from nbdev.config import get_config
    from nbdev.serve import proc_nbs as _proc_nbs

    cfg = get_config()
    cache = cfg.config_path / "_proc"
    shutil.rmtree(cache, ignore_errors=True)  # a clean build: renamed or removed notebooks leave no page behind
    _proc_nbs(cfg.nbs_path, n_workers=n_workers, force=True)
    shutil.copy2(ROOT / "_quarto.yml", cache / "_quarto.yml")  # the project's own config, with its sidebar
    return cache


def render(cache: Path) -> list[str]:
    "Render `_proc/` with smalldocs and move the site to `_docs/`; return smalldocs' warnings."
    from smalldocs.site import build

    site = build(cache, quiet=True)
    out = ROOT / "_docs"
    shutil.rmtree(out, ignore_errors=True)
    shutil.move(str(Path(site.out)), str(out))
    return [str(w) for w in site.warnings]


def mathjax_source() -> Path:
    try:
        import mathjax  # the PyPI package django-static-mathjax: MathJax's own files, no Django needed
    except ImportError:
        sys.exit("tools/build_docs.py: MathJax is missing: add django-static-mathjax to dev_requirements and run `make setup`")
    return Path(mathjax.__file__).parent / "static" / "mathjax"


def ship_mathjax(site: Path) -> int:
    "Copy MathJax into the site and point every page with maths at it; return how many pages have maths."
    src = mathjax_source()
    dst = site / MATHJAX_URL_DIR
    shutil.rmtree(dst, ignore_errors=True)
    for part in MATHJAX_PARTS:
        s, d = src / "es5" / part, dst / part
        d.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if s.is_dir() else shutil.copy2)(s, d)
    shutil.copy2(src / "LICENSE", dst / "LICENSE")
    n = 0
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if not KATEX_TAG.search(text):
            continue
        offset = m.group(1) if (m := OFFSET_META.search(text)) else ""
        offset = "" if offset == "./" else offset
        url = offset + MATHJAX_URL_DIR
        tags = f'<script>{MATHJAX_CONFIG % url}</script><script src="{url}/tex-chtml.js" defer></script>'
        text = KATEX_TAG.sub("", text, count=1)
        text = KATEX_TAG.sub("", text)
        text = text.replace("</head>", tags + "</head>", 1)
        page.write_text(text, encoding="utf-8")
        n += 1
    return n


def check(site: Path) -> tuple[list[str], list[str]]:
    "Return (remote assets, `page: first line` of every stored output written to stderr)."
    remote, warned = [], []
    for page in sorted(site.rglob("*.html")):
        if MATHJAX_URL_DIR in str(page.relative_to(site)):
            continue
        text = page.read_text(encoding="utf-8")
        for tag in REMOTE_ASSET.findall(text):
            if not REMOTE_OK.match(tag):
                remote.append(f"{page.relative_to(site)}: {tag}")
        for block in STDERR_OUTPUT.findall(text):
            lines = [ln.strip() for ln in html.unescape(re.sub(r"<[^>]+>", "", block)).splitlines()]
            first = next((ln for ln in lines if ln.strip("> ")), "")
            warned.append(f"{page.relative_to(site)}: {first[:200]}")
    return remote, warned


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n_workers", type=int, default=2, help="processes for nbdev's notebook processing")
    p.add_argument("--strict", action="store_true", help="fail on smalldocs warnings and on warnings in stored outputs")
    a = p.parse_args(argv)
    t0 = time.time()
    cache = proc_nbs(a.n_workers)
    warnings = render(cache)
    site = ROOT / "_docs"
    n_math = ship_mathjax(site)
    remote, warned = check(site)
    warnings = [w for w in warnings if not QUIET_WARNINGS.search(w)]
    for w in warnings:
        print(f"smalldocs warning: {w}", file=sys.stderr)
    for w in warned:
        print(f"stored output on stderr (warning, progress bar or error): {w}", file=sys.stderr)
    if remote:
        print("pages load assets from another host (the site must work offline):", *remote, sep="\n  ", file=sys.stderr)
        return 1
    print(f"docs site written to {site.relative_to(ROOT)}/index.html: {len(list(site.rglob('*.html')))} pages, "
          f"{n_math} with maths (MathJax shipped in {MATHJAX_URL_DIR}), {time.time() - t0:.0f} s")
    return 1 if a.strict and (warnings or warned) else 0


if __name__ == "__main__":
    sys.exit(main())
