# Two entry points a new user needs: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: demo test test-deps lint typecheck bench venv clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## Run the daemon against simulated devices with the embedded store.
demo: $(STAMP)
	@bash scripts/install-test-deps.sh --demo || echo "note: Mosquitto missing; the demo runs without its MQTT devices"
	$(VENV)/bin/cleanroom-monitor demo $(DEMO_ARGS)

## Install the test servers (Debian packages) and run lint, types and the full suite.
test: $(STAMP) test-deps
	$(VENV)/bin/ruff check monitor simulators tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

test-deps:
	bash scripts/install-test-deps.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check monitor simulators tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench: $(STAMP) test-deps
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
