# neatai — two commands on a fresh machine: `make run` and `make test`.
# Each creates .venv when missing, installs the pinned dependencies from the registries,
# generates the protobuf API, compiles the Cython kernels, then runs.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
ARGS ?=

.PHONY: run test build protos bench bench-check fault fuzz k8s-check tools clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml setup.py
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps -e .
	@touch $@

# Regenerates the protos and recompiles any changed .pyx (both are no-ops when up to date).
build: $(STAMP)
	@# Quiet when it works, the whole compiler output when it fails (make then stops).
	@$(PY) setup.py -q build_ext --inplace > .build.log 2>&1 || (cat .build.log; exit 1)
	@$(PY) -c "import neatai.v1.evaluator_pb2" 

protos: build

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

# promtool and a Prometheus server for the metrics/dashboard tests (Debian package `prometheus`).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
tools: $(NODE_STAMP)
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || \
	  ($(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends prometheus)

run: build
	$(VENV)/bin/neatai run $(ARGS)

test: build tools
	$(PY) -m pytest -q $(ARGS)

# Faults and load in their quick form against the recorded baseline (bench/RESULTS.md,
# "Reliability"): fails on a run lost to kill -9, an error at 80 % load, or a regressed ratio.

# Long fuzzing: the Hypothesis properties of tests/fuzz with many more inputs (make test runs
# them bounded), then Atheris, where it installs, on a copy of each seed corpus for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = creature-json creature-pb csv parquet npz records config checkpoint
fuzz: build
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q tests/fuzz
	@if $(PY) -m pip install -q --disable-pip-version-check atheris==3.0.0; then \
	  for t in $(FUZZ_TARGETS); do mkdir -p build/fuzz-corpus/$$t; \
	    $(PY) tests/fuzz/atheris_inputs.py $$t -max_total_time=$(FUZZ_SECONDS) build/fuzz-corpus/$$t \
	      tests/fuzz/corpus/$$t || exit 1; done; \
	else echo "atheris does not install here: coverage-guided fuzzing skipped"; fi

# Renders every overlay and scenario, validates it strictly offline, then checks the invariants
# (probes, resources, selectors, drain) in tests/ops/test_k8s.py (which `make test` also runs).
k8s-check: $(STAMP)
	@set -eo pipefail; for d in deploy/k8s/overlays/*/ deploy/k8s/tests/*/; do \
	  echo "kustomize $$d"; kubectl kustomize $$d | $(VENV)/bin/kubernetes-validate --strict --quiet -; \
	done
	$(PY) -m pytest -q tests/ops/test_k8s.py

# Every benchmark in its quick form; ARGS="--full", ARGS="kernels xor" (python -m bench --help).
bench: build
	$(PY) -m bench $(ARGS)

# The seed-003 service suites in their quick form, compared as ratios with bench/baselines.json:
# fails on a regression beyond the tolerance stated there (bench/bench_service.py --record rewrites it).
bench-check: build
	$(PY) bench/bench_service.py --quick --check bench/baselines.json
	$(PY) bench/bench_reliability.py --quick --check bench/reliability_baseline.json

# The fault campaign: 20 runs, each with an evaluator and the evolver kill -9'd at seeded random
# points, each run checked against the uninterrupted result (`make test` runs one of them).
fault: build
	NEATAI_FAULT_RUNS=20 $(PY) -m pytest -q -s tests/fault/test_kill_runs.py

# Generated code and build outputs: the protobuf API, Cython's C next to its .pyx, extensions.
clean:
	rm -rf build $(VENV) node_modules shared/v1 .build.log
	@# Cython writes NAME.c (and NAME.html with annotate) next to each NAME.pyx.
	for pyx in $$(find shared services -name '*.pyx'); do rm -f "$${pyx%.pyx}.c" "$${pyx%.pyx}.html"; done
	find shared services app -name '*.so' -delete
