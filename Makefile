# Two commands: `make demo` and `make test`. Both set everything up on a fresh machine first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.causalrec-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test test-install sync outputs docs docs-check lint bench clean

setup: $(STAMP)

# torch is pinned to the CPU wheel first: an open range would pull a multi-GB CUDA build.
# causalnex 0.12.2 declares Python<3.11 and old numpy/pandas, but runs on 3.11 with causalrec.compat.
$(STAMP): setup.py settings.ini
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps --ignore-requires-python causalnex==0.12.2 pgmpy==0.1.19
	$(BIN)/pip install --quiet pathos pyvis "setuptools<81"
	touch $(STAMP)

demo: setup
	$(BIN)/causalrec run --out causalrec-output

sync: setup
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean
	$(BIN)/python tools/nb2readme.py nbs/index.ipynb README.md

# Notebooks, then pytest, each as two processes on the two cores (pytest-xdist; one test file per process, so a
# file's fixtures are built once), each process with one compute thread: more threads than cores spin against each
# other (nbdev_test 1 min instead of 1 min 45 s). index.ipynb is the README's Quickstart, which tests/test_install.py
# runs in a fresh interpreter.
ONE_THREAD := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
test: setup
	tools/check_sync.sh $(BIN)
	$(BIN)/ruff check causalrec tests tools bench
	$(ONE_THREAD) $(BIN)/nbdev_test --n_workers 2 --skip_file_re '^([_.]|index)'
	$(ONE_THREAD) $(BIN)/python -m pytest -n 2 --dist loadfile -rs tests

# `pip install .` into a fresh venv, then `causalrec run` without causalnex (about 3 minutes; not part of `make test`).
test-install: setup
	CAUSALREC_TEST_INSTALL=1 $(BIN)/python -m pytest tests/test_install.py

# Re-run every notebook and store its outputs (tables, figures): the docs site shows stored outputs.
outputs: setup
	$(BIN)/python tools/run_nbs.py nbs/*.ipynb
	$(BIN)/nbdev_clean

# Quarto is not installable here: smalldocs renders the same _quarto.yml in pure Python, and MathJax
# (django-static-mathjax, a dev requirement) is copied into the site so maths renders offline.
# `docs` installs nothing: nbdev_proc_nbs/nbdev_docs would install Quarto and then run the first
# `pip` on PATH, so tools/build_docs.py runs nbdev's notebook processing without them; and `docs`
# does not depend on `setup` (run `make setup` or `make test` first). tests/test_docs.py checks both.
docs: export PATH := $(CURDIR)/$(BIN):$(PATH)
docs:
	@test -f $(STAMP) || { echo "make docs installs nothing: run 'make setup' first"; exit 1; }
	$(BIN)/python tools/build_docs.py

# Looks at the built site in headless Chromium (Debian's chromium; CI has none, so not in `make test`):
# maths rendered, no raw TeX, nothing fetched from another host; PNGs in .cache/docs-check/.
docs-check: docs
	$(BIN)/python tools/screenshot_docs.py

lint:
	@test -x $(BIN)/ruff || { echo "ruff is missing: add it to dev_requirements and run 'make setup'"; exit 1; }
	$(BIN)/ruff check causalrec tests tools bench

bench: setup
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf _proc _docs causalrec-output .pytest_cache
