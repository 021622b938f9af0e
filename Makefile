# Every target is a plain command you could type yourself; read it to learn the workflow.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON    ?= python3
VENV      ?= .venv
BIN       := $(VENV)/bin
TOOLS     ?= .tools
NAMESPACE ?= ml-course
OVERLAY   ?= minikube
CLUSTER   ?= minikube
IMAGE     ?= iris-ml
TAG       ?= 0.1.0-dev
MODEL_DIR ?= .models

.PHONY: help venv test lint pytest bench serve image demo tui up down secret screenshot clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# The venv is rebuilt only when pyproject.toml changes.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[service,tui,sandbox,dev]'
	touch $@

# checkov pins many libraries of its own, so it lives in a venv of its own.
$(TOOLS)/checkov/bin/checkov:
	$(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/checkov/bin/python -m pip install --quiet 'checkov>=3.2'

venv: $(BIN)/.installed ## create .venv with everything installed

kubectl-check:
	@command -v kubectl >/dev/null || { echo "kubectl is required (https://kubernetes.io/docs/tasks/tools/)"; exit 1; }

lint: $(BIN)/.installed ## ruff, mypy, yamllint, hadolint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/yamllint -s .
	$(BIN)/hadolint Dockerfile

pytest: $(BIN)/.installed $(TOOLS)/checkov/bin/checkov kubectl-check
	PATH="$(CURDIR)/$(BIN):$$PATH" CHECKOV="$(CURDIR)/$(TOOLS)/checkov/bin/checkov" $(BIN)/pytest -q

test: lint pytest ## the whole test suite, as CI runs it

serve: $(BIN)/.installed ## train into ./.models if empty, then serve on 127.0.0.1:8000
	test -e $(MODEL_DIR)/current || MODEL_DIR=$(MODEL_DIR) $(BIN)/iris-train
	MODEL_DIR=$(MODEL_DIR) HOST=127.0.0.1 PORT=8000 $(BIN)/iris-serve

bench: $(BIN)/.installed ## measure speed and memory; each benchmark prints a table
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

image: ## build the container image iris-ml:$(TAG)
	docker build -t $(IMAGE):$(TAG) .

clean: ## remove the venvs, the local model and the sandbox state
	rm -rf $(VENV) $(TOOLS) $(MODEL_DIR) .sandbox
