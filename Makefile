# `make demo` and `make test` create the environment on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
LRC    := $(VENV)/bin/lrcurve
STAMP  := $(VENV)/.installed
DEMO   := demo_out

.PHONY: env demo test fuzz lint bench accuracy accuracy-figures docs clean

env: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,tensorboard,wandb]'
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p $(DEMO)
	$(LRC) fit sample_runs/constant.csv sample_runs/cosine.csv --warmup 2160 -o $(DEMO)/fit.json --plot $(DEMO)/fit.png --force
	$(LRC) predict $(DEMO)/fit.json --schedule wsd --steps 72000 --decay 0.15 --shape sqrt --plot $(DEMO)/wsd.png -o $(DEMO)/wsd.csv --force
	$(LRC) predict $(DEMO)/fit.json --schedule cosine --steps 72000 --floor 0.1
	$(LRC) optimize $(DEMO)/fit.json --family wsd --steps 72000 --top 5 --plot $(DEMO)/wsd_tradeoff.png --force
	$(LRC) check $(DEMO)/fit.json sample_runs/wsd.csv --plot $(DEMO)/check.png --force
	@echo "demo outputs in $(DEMO)/"

# Two workers (pytest-xdist): CI has 2 cores, and the suite stays under 3 minutes on them.
# --dist loadscope keeps a module's tests on one worker, so its fitted fixtures are made once;
# --no-loadscope-reorder dispatches them in the order tests/conftest.py gives: slowest first.
test: lint
	$(PY) -m pytest -q -n 2 --dist loadscope --no-loadscope-reorder

# The property and malformed-input tests with 20x the examples (tens of minutes on 2 cores);
# run before a release.
fuzz: $(STAMP)
	LRCURVE_FUZZ_SCALE=20 $(PY) -m pytest -q -n 2 tests/test_fuzz.py tests/test_readers.py \
		tests/test_readers_wandb.py tests/test_multipower.py tests/test_check.py

lint: $(STAMP)
	$(PY) -m ruff check lrcurve tests benchmarks
	$(PY) -m ruff format --check lrcurve tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/speed.py

# Reads the public data sets from ../shared/data; `make accuracy DATA=DIR` for another folder.
accuracy: $(STAMP)
	$(PY) benchmarks/accuracy.py $(if $(DATA),--data $(DATA))

# docs/accuracy-figures.md: the accuracy and cooldown-sweep benchmarks' tables, rewritten
# (public data in ../shared/data or DATA=DIR; about half an hour on 2 cores).
FIGURES := docs/accuracy-figures.md
MD      := $(PY) benchmarks/markdown.py
DATA_OPT = $(if $(DATA),--data $(DATA))

accuracy-figures: $(STAMP)
	$(MD) --as-markdown --title "Accuracy: the figures" $(FIGURES) -- benchmarks/accuracy.py $(DATA_OPT)
	$(MD) --as-markdown --append $(FIGURES) -- benchmarks/accuracy.py --lr-exponent 0.6 $(DATA_OPT)
	$(MD) --as-markdown --append $(FIGURES) -- benchmarks/accuracy.py --scan-lr-exponent $(DATA_OPT)
	$(MD) --append $(FIGURES) -- benchmarks/cooldown_sweeps.py $(DATA_OPT)
	$(MD) --append $(FIGURES) -- benchmarks/cooldown_sweeps.py --lr-exponent 0.7 $(DATA_OPT)
	$(MD) --append $(FIGURES) -- benchmarks/cooldown_sweeps.py --lr-exponent 0.6 $(DATA_OPT)
	$(MD) --as-markdown --append $(FIGURES) -- benchmarks/cooldown_sweeps.py --scan-lr-exponent $(DATA_OPT)

# The documentation site (mkdocs-material + mkdocstrings) into site/; --strict fails on a broken
# link, a missing page or an API name that does not resolve.
DOCS_STAMP := $(VENV)/.docs-installed

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) $(DEMO) build site *.egg-info
