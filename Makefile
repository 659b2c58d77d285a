# Groundwork: `make run` serves the app, `make test` runs the suite. Both create .venv first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT

.PHONY: run test check install install-dev services-status stop clean-data

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# Tests and checks add requirements-dev.txt (pytest, Playwright, ruff, mypy and stubs).
$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Local default: DEBUG on (generated SECRET_KEY under var/, console email, optional email verification). OCR needs
# Debian's tesseract-ocr: deploy/install-ocr installs it as root, or says that OCR is off and how to turn it on.
run: export DEBUG ?= true
run: export PATH := $(abspath $(VENV))/bin:$(PATH)
run: $(VENV)/.installed
	@sh deploy/install-ocr
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py embedding_artifacts
	$(PY) manage.py ensure_demo_account
	$(PY) manage.py load_demo_corpus
	@echo "Groundwork: http://127.0.0.1:$(PORT)/  (web + worker + beat; Ctrl-C stops them)"
	exec $(VENV)/bin/honcho --procfile Procfile start --port $(PORT)

test: export SECRET_KEY ?= insecure-test-only-key
test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# Lint, format and types (pyproject.toml); .ci/run runs this before the tests.
check: export SECRET_KEY ?= insecure-test-only-key
check: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

services-status: $(VENV)/.installed
	$(PY) -m config.embedded status

stop: $(VENV)/.installed
	$(PY) -m config.embedded stop

clean-data: stop
	rm -rf var
