"""Execute notebooks and store their outputs, so the docs site shows tables and figures (it renders stored outputs).

Cells flagged with one of settings.ini's `tst_flags` (e.g. `#| slow`) are skipped unless named in --flags, as in
`nbdev_test`; every stored output is cleared first, so none is left stale. Each notebook is rewritten atomically, and only
when every cell ran without error. Run `nbdev_clean` afterwards (`make outputs` does both).

Usage: python tools/run_nbs.py [--flags slow] nbs/00_data.ipynb [...]
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from execnb.nbio import nb2dict, read_nb
from execnb.shell import CaptureShell
from fastcore.xtras import working_directory
from nbdev.config import get_config
from nbdev.process import NBProcessor


def run(path:Path, skip:set) -> bool:
    "Execute `path` cell by cell, skipping cells flagged with `skip`; write it back with outputs if all cells ran."
    nb = NBProcessor(path, process=True).nb
    skipped = lambda cell: cell.cell_type == "code" and bool(skip & (getattr(cell, "directives_", {}) or {}).keys())
    for cell in nb.cells:
        if cell.cell_type == "code": cell.outputs, cell.execution_count = [], None
    shell = CaptureShell(path)
    try:
        with working_directory(path.parent): shell.run_all(nb, exc_stop=True, preproc=skipped)
    except Exception:
        sys.stderr.write(shell.prettytb(fname=path) + "\n")
        return False
    original = read_nb(path)
    for cell, ran in zip(original.cells, nb.cells):
        if cell.cell_type == "code": cell.outputs, cell.execution_count = ran.outputs, ran.execution_count
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f: f.write(json.dumps(nb2dict(original), indent=1, ensure_ascii=False) + "\n")
    os.chmod(tmp, path.stat().st_mode)
    os.replace(tmp, path)
    return True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--flags", nargs="*", default=[], help="flagged cells to run too (e.g. slow)")
    args = parser.parse_args()
    skip = set(get_config().get("tst_flags", "").split()) - set(args.flags)
    failed = [p for p in args.notebooks if not (print(f"running {p}", flush=True) or run(p.resolve(), skip))]
    if failed: sys.exit(f"failed: {', '.join(map(str, failed))}")
