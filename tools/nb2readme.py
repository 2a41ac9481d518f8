"""Write README.md from nbs/index.ipynb without Quarto.

Markdown cells are copied, code cells become fenced blocks followed by their text output;
cells carrying the nbdev `#| hide` directive are left out. The file is replaced atomically."""
import json
import os
import sys
import tempfile
from pathlib import Path


def cell_text(cell):
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def render(nb_path):
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    parts = []
    for cell in nb["cells"]:
        text = cell_text(cell).strip()
        if not text or text.startswith("#| hide") or "\n#| hide" in text:
            continue
        if cell["cell_type"] == "markdown":
            parts.append(text)
            continue
        code = "\n".join(l for l in text.splitlines() if not l.startswith("#|"))
        parts.append(f"```python\n{code}\n```")
        outputs = [o for o in cell.get("outputs", []) if "text" in o or "text/plain" in o.get("data", {})]
        for out in outputs:
            body = out.get("text") or out["data"]["text/plain"]
            parts.append("```\n" + ("".join(body) if isinstance(body, list) else body).rstrip() + "\n```")
    return "\n\n".join(parts) + "\n"


def write_atomic(path, text):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    src, dst = (sys.argv[1:3] + ["nbs/index.ipynb", "README.md"][len(sys.argv[1:3]):])[:2]
    write_atomic(dst, render(src))
