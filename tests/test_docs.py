"""`make docs` installs nothing, runs no pip, and builds a complete site that works offline.

nbdev's own docs commands (`nbdev_proc_nbs`, `nbdev_docs`) install Quarto when it is missing
(sudo, curl) and then run `pip install -e .[dev]` with the first pip on PATH. Here every pip
a command could reach is a stub that writes a marker and fails: `pip`, `pip3` and `pip3.11` on
PATH, and, through PYTHONPATH, the `pip` module that `python -m pip` and `.venv/bin/pip` import;
`sudo` and `curl` are stubs too. `make docs` must succeed and leave no marker.
Takes about 20-30 s (the notebooks are processed, not run).
"""
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"

STUB_SH = """#!/bin/sh
echo "$0 $*" >> "{marker}"
exit 1
"""
STUB_PIP_MODULE = """import sys
with open({marker!r}, "a") as f:
    f.write("python -m pip / import pip: " + " ".join(sys.argv) + "\\n")
sys.exit(1)
"""


@pytest.fixture(scope="module")
def docs_build(tmp_path_factory):
    if not (VENV / ".causalrec-installed").exists():
        pytest.skip(".venv is not set up: run `make setup` (make docs installs nothing)")
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    tmp = tmp_path_factory.mktemp("nopip")
    marker = tmp / "called.txt"
    bin_dir, mod_dir = tmp / "bin", tmp / "pymods" / "pip"
    bin_dir.mkdir()
    mod_dir.mkdir(parents=True)
    for name in ("pip", "pip3", "pip3.11", "sudo", "curl"):
        f = bin_dir / name
        f.write_text(STUB_SH.format(marker=marker))
        f.chmod(f.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    (mod_dir / "__init__.py").write_text(STUB_PIP_MODULE.format(marker=str(marker)))
    (mod_dir / "__main__.py").write_text("")
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{tmp / 'pymods'}{os.pathsep}{env['PYTHONPATH']}" if env.get("PYTHONPATH") else str(tmp / "pymods")
    env.pop("MAKEFLAGS", None)
    # the stubs work: a pip reached any of these ways would leave the marker
    for cmd in (["pip", "--version"], [str(VENV / "bin" / "python"), "-m", "pip", "--version"]):
        assert subprocess.run(cmd, env=env, capture_output=True).returncode == 1
    assert marker.read_text().count("\n") == 2
    marker.unlink()
    r = subprocess.run(["make", "docs"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    return r, marker


def test_make_docs_installs_nothing(docs_build):
    r, marker = docs_build
    assert r.returncode == 0, f"make docs failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert not marker.exists(), f"make docs called pip, sudo or curl:\n{marker.read_text()}"
    assert "nbdev_proc_nbs" not in r.stdout and "nbdev_docs" not in r.stdout


def test_site_is_complete_and_offline(docs_build):
    r, _ = docs_build
    assert r.returncode == 0
    site = ROOT / "_docs"
    pages = {p.stem for p in site.glob("*.html")}
    notebooks = {p.stem for p in (ROOT / "nbs").glob("*.ipynb")}
    assert notebooks <= pages, f"notebooks with no page: {sorted(notebooks - pages)}"
    index = (site / "index.html").read_text(encoding="utf-8")
    for nb in notebooks - {"index"}:
        assert f'href="{nb}.html"' in index, f"{nb}.html is missing from the sidebar"
    assert (site / "site_libs" / "mathjax" / "tex-chtml.js").exists()
    assert list((site / "site_libs" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    with_maths = 0
    for page in site.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "cdn.jsdelivr" not in text and "katex.min" not in text, f"{page.name} still points at a CDN"
        assert not re.search(r'<(?:script|link)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]*\.(?:js|css)"', text), page.name
        if 'class="math' in text:
            with_maths += 1
            assert 'src="site_libs/mathjax/tex-chtml.js"' in text, f"{page.name} has maths but no MathJax"
    assert with_maths, "no page has maths: the docs lost their equations"
