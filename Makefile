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
DOCKER    ?= docker
# Extra `docker build` flags, e.g. --build-arg PYTHON_IMAGE=NAME for another base image.
BUILD_FLAGS ?=

.PHONY: help venv test lint pytest bench serve image image-test demo tui up down secret screenshot clean example-data

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -e 's/\$$(IMAGE)/$(IMAGE)/g' -e 's/\$$(TAG)/$(TAG)/g' | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

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
	PATH="$(CURDIR)/$(BIN):$$PATH" CHECKOV="$(CURDIR)/$(TOOLS)/checkov/bin/checkov" $(BIN)/pytest -q -n 3 --dist loadgroup

test: lint pytest ## the whole test suite, as CI runs it

serve: $(BIN)/.installed ## train into ./.models if empty, then serve on 127.0.0.1:8000
	test -e $(MODEL_DIR)/current || MODEL_DIR=$(MODEL_DIR) $(BIN)/iris-train
	MODEL_DIR=$(MODEL_DIR) HOST=127.0.0.1 PORT=8000 $(BIN)/iris-serve

# bench_api drives the server with wrk, the HTTP load generator (a Debian/Ubuntu package).
bench: $(BIN)/.installed ## measure speed and memory; each benchmark prints a table
	@command -v wrk >/dev/null || { echo "+ apt-get install -y wrk"; \
	  apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } || \
	  { echo "bench needs wrk: install it with your package manager"; exit 1; }
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

example-data: $(BIN)/.installed ## write the example CSVs (wine, a churn table) into examples/data
	$(BIN)/python -m service.example_data examples/data

demo: $(BIN)/.installed kubectl-check ## the whole stack on the sandbox (a simulated cluster), in the TUI (FRESH=1: from an empty cluster)
	BIN=$(BIN) OVERLAY=$(OVERLAY) FRESH=$(FRESH) scripts/demo.sh

tui: $(BIN)/.installed ## open the TUI on the cluster of your current kubeconfig context
	$(BIN)/iris-tui --namespace $(NAMESPACE) --overlay $(OVERLAY)

screenshot: $(BIN)/.installed kubectl-check ## regenerate docs/tui.svg from the demo stack
	$(BIN)/python scripts/screenshot.py

image: ## build the container image iris-ml:$(TAG)
	$(DOCKER) build $(strip $(BUILD_FLAGS) -t $(IMAGE):$(TAG)) .

# tests/image: builds the image with `make image` (on a stand-in base when the official one
# cannot be pulled: scripts/base-image.sh) and runs it as overlays/minikube runs each workload.
# `make test` runs it too where a Docker engine answers, and says so when it skipped it.
image-test: $(BIN)/.installed kubectl-check ## build the image and run it in Docker as the manifests say
	PATH="$(CURDIR)/$(BIN):$$PATH" IRIS_IMAGE_TEST=required $(BIN)/pytest -q tests/image

# A real cluster. `make up` is the whole path from nothing to a URL on a local cluster
# (OVERLAY=minikube, gpu or autoscale: they run the image built here, which is why TAG must
# stay the tag overlays/minikube pins). For a cloud, push the image, set it in
# overlays/cloud-loadbalancer, then `make secret apply OVERLAY=cloud-loadbalancer`.
.PHONY: apply

up: kubectl-check ## start a local cluster (CLUSTER=minikube|kind), build the image, deploy, print the URL
ifeq ($(CLUSTER),minikube)
	minikube status >/dev/null 2>&1 || minikube start
	minikube image build -t $(IMAGE):$(TAG) .
else ifeq ($(CLUSTER),kind)
	kind get clusters 2>/dev/null | grep -qx kind || kind create cluster
	docker build -t $(IMAGE):$(TAG) .
	kind load docker-image $(IMAGE):$(TAG)
else
	$(error CLUSTER must be minikube or kind, not '$(CLUSTER)')
endif
	$(MAKE) --no-print-directory secret
	$(MAKE) --no-print-directory apply
	kubectl -n $(NAMESPACE) wait --for=condition=complete --timeout=600s job/iris-train-job
	kubectl -n $(NAMESPACE) rollout status deploy/iris-api --timeout=300s
ifeq ($(CLUSTER),kind)
	@echo "API: kubectl -n $(NAMESPACE) port-forward svc/iris-api-svc 8080:80, then http://127.0.0.1:8080/docs"
else
	minikube service iris-api-svc -n $(NAMESPACE) --url
endif

# Never overwrites a key clients already use; delete the Secret first to rotate it.
secret: kubectl-check ## create the API key Secret with a random key, unless it exists
	kubectl get namespace $(NAMESPACE) >/dev/null 2>&1 || kubectl create namespace $(NAMESPACE)
	kubectl -n $(NAMESPACE) get secret iris-api-secret >/dev/null 2>&1 || \
	  kubectl -n $(NAMESPACE) create secret generic iris-api-secret \
	    --from-literal=API_KEY=$$($(PYTHON) -c 'import secrets;print(secrets.token_urlsafe(32))') \
	    --dry-run=client -o yaml | kubectl apply -f -
	@echo "The key: kubectl -n $(NAMESPACE) get secret iris-api-secret -o jsonpath='{.data.API_KEY}' | base64 -d"

# The finished training Job cannot be changed in place (its pod template is immutable), so it
# is deleted and applied anew, which retrains with the new image or settings. The overlay is
# the source of truth: --force-conflicts takes back what `kubectl scale` changed since.
apply: kubectl-check ## apply overlays/OVERLAY (server-side), recreating the training Job
	kubectl -n $(NAMESPACE) delete job/iris-train-job --ignore-not-found
	kubectl apply --server-side --force-conflicts -k overlays/$(OVERLAY)

down: kubectl-check ## delete the namespace with everything in it, the model volume too
	kubectl delete namespace $(NAMESPACE) --ignore-not-found
	@echo "The cluster keeps running: 'minikube stop' or 'kind delete cluster' stops it."

clean: ## remove the venvs, the local model and the sandbox state
	rm -rf $(VENV) $(TOOLS) $(MODEL_DIR) .sandbox
