# Switchyard: `make run` serves the exchange with demo data; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# The demo is development: DEBUG on unless the caller says otherwise (off is the default).
DEV := DEBUG=$${DEBUG:-true}
# The demo's simulated buyers listen on 127.0.0.1, which outbound safety refuses
# unless opened (docs/security.md).
export OUTBOUND_ALLOWED_NETWORKS ?= 127.0.0.0/8

.PHONY: install run demo-data test test-postgres bench lint format clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo-data: install
	$(DEV) $(PY) manage.py migrate --noinput
	$(DEV) $(PY) manage.py load_demo

run: demo-data
	$(DEV) $(PY) manage.py collectstatic --noinput --verbosity 0
	$(DEV) $(PY) manage.py rundemo

test: install
	$(PY) -m pytest -q -n 2 --dist loadfile

test-postgres: install
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} $(PY) -m pytest -q -n 2 --dist loadfile

bench: install
	$(PY) -m bench
	$(PY) -m bench.mixed
	$(PY) -m bench.posts

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) db.sqlite3 .broker .run
