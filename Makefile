# Two entry points (see README): `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean bench browser

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# The browser tests (tests/serving/test_*_browser.py) drive Debian's chromium: installed here
# where apt-get runs as root, else those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        --no-install-recommends chromium fonts-dejavu-core; } \
	      || echo "could not install chromium: the browser test skips"; \
	  else \
	    echo "chromium missing and not installable here (needs apt-get as root): browser test skips"; \
	  fi; }

test: lint browser
	$(BIN)/pytest

# Options for the demo: `make demo PORT=9000`, `make demo HOST=0.0.0.0`, and anything else of
# `freshrec demo --help` through DEMO_ARGS, e.g. `make demo DEMO_ARGS="--rate 50 --data ./keep"`.
PORT ?= 8000
HOST ?= 127.0.0.1
DEMO_ARGS ?=

demo: $(STAMP)
	$(BIN)/freshrec demo --serve --host $(HOST) --port $(PORT) $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
