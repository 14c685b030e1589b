# sottovoce — two-command quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: demo test test-fast bench lint system clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

# System packages the tests need (Debian chromium, PostgreSQL); installs only what is missing, only as root.
system:
	@bash scripts/setup-system.sh

demo: $(STAMP)
	$(VENV)/bin/sottovoce demo --out demo-output

test: $(STAMP) system
	$(PY) -m pytest -q -n 2 --dist loadgroup

test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 -m "not slow and not browser and not postgres"

bench: $(STAMP)
	@test -x $(VENV)/bin/.bench-peers || ($(PY) -m pip install -q --disable-pip-version-check -r bench/requirements.txt && touch $(VENV)/bin/.bench-peers)
	$(PY) bench/run.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src/sottovoce

clean:
	rm -rf $(VENV) demo-output .pytest_cache
