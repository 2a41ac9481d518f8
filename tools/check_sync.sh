#!/usr/bin/env bash
# Fails when nbdev_export, nbdev_clean or the README step would change any file:
# the library, the notebooks and README.md must be in sync with the notebooks and clean.
set -euo pipefail
bin=${1:-.venv/bin}
snapshot() { find nbs causalrec README.md -type f \( -name '*.ipynb' -o -name '*.py' -o -name '*.md' \) \
  -not -path '*/.ipynb_checkpoints/*' -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum; }
before=$(snapshot)
"$bin/nbdev_export"
"$bin/nbdev_clean"
"$bin/python" tools/nb2readme.py nbs/index.ipynb README.md
after=$(snapshot)
if [ "$before" != "$after" ]; then
  echo "Out of sync: nbdev_export / nbdev_clean / README generation changed these files:" >&2
  diff <(echo "$before") <(echo "$after") | grep '^[<>]' | awk '{print $3}' | sort -u >&2
  echo "Fix: run 'make sync' and commit the result." >&2
  exit 1
fi
echo "notebooks, library and README are in sync and clean"
