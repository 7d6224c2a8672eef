# Two set-up commands on a fresh machine (see README):
#   make demo   - install into .venv, then run the demo on the embedded ClickHouse (chDB)
#   make test   - install into .venv, then lint, type-check and run the test suite
# Everything is installed from requirements.lock (exact versions, what CI tested).

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest soak bench bench-smoke lock clean

$(STAMP): pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q "uv>=0.5,<1"
	# grafana-client pulls niquests -> urllib3-future, whose wheel overwrites the real `urllib3`
	# package (connectors' requests/urllib3 would then run on the fork). Built from its sdist
	# with URLLIB3_NO_OVERRIDE=1 it installs as `urllib3_future` only, beside the real urllib3.
	URLLIB3_NO_OVERRIDE=1 $(VENV)/bin/uv pip install -q --python $(PY) --no-binary urllib3-future -r requirements.lock
	$(VENV)/bin/uv pip install -q --python $(PY) --no-deps -e .
	sh scripts/install-browser.sh $(VENV)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/connlog demo

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(VENV)/bin/pytest

# Long load/soak and kill -9 loops (CONNLOG_SOAK_SECONDS, default 600), kept out of `make test`.
soak: $(STAMP)
	$(VENV)/bin/pytest -m long -s tests/reliability/test_reliability_process.py tests/reliability/test_reliability_sdk.py

bench: $(STAMP)
	$(PY) -m bench.run_all

bench-smoke: $(STAMP)
	$(PY) -m bench.run_all --smoke

# Re-resolve the lock file after changing dependencies in pyproject.toml.
lock:
	$(VENV)/bin/uv pip compile pyproject.toml --all-extras --python-version 3.11 -q -o requirements.lock

clean:
	rm -rf $(VENV) .connlog .mypy_cache .pytest_cache .ruff_cache
