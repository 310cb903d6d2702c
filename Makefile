# The same targets locally and in CI. `make help` lists them.
PY := .venv/bin/python
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help install install-test model run test test-fast bench parse validate audit clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: ## install the runtime Debian and Python packages (idempotent; what `make run` needs)
	@bash scripts/install.sh

install-test: ## install the runtime plus test and browser tooling (idempotent)
	@bash scripts/install.sh --test

model: install ## train the Rasa model if nlu_data/, domain.yml or config.yml changed
	@$(PY) -m bot train

run: model ## install, train if needed and start the bot on http://localhost:8000
	@$(PY) -m bot run

validate: install ## check the procedure catalogue and the training data
	@$(PY) -m procedures validate
	@$(PY) -m rasa data validate --data nlu_data --domain domain.yml --config config.yml >build/validate.log 2>&1 || (cat build/validate.log; exit 1)

test: install-test model ## install, train if needed, run every test (pytest, Rasa story tests, browser)
	@$(PY) -m procedures validate
	@$(PY) -m rasa test core --stories tests/test_stories.yml --model models/current.tar.gz --fail-on-prediction-errors --out build/story-results >build/story-test.log 2>&1 || (tail -40 build/story-test.log; exit 1)
	@echo "Rasa story tests passed"
	@$(PY) -m pytest

test-fast: install-test ## pytest without the tests that start the whole stack
	@$(PY) -m pytest -m "not stack"

bench: install-test model ## NLU accuracy, dialogue latency and memory
	@$(PY) -m bot bench

parse: model ## NLU results for lines on stdin
	@$(PY) -m bot parse

audit: install-test ## check the installed Python packages for known vulnerabilities (pip-audit)
	@bash scripts/audit/run.sh

clean: ## remove build outputs (model, generated data, databases)
	rm -rf build models var
