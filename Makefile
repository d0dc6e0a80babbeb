# The two commands a newcomer needs: `make run` and `make test`. Each prepares a fresh
# machine first (scripts/bootstrap), so nothing else has to be installed by hand.

.PHONY: run test test-slow lint bench

# The trial: embedded defaults and policies/trial.yaml (replies without SPF/DMARC, so the
# auto-reply shows on one machine). Production runs `postvagt run` with its own settings.
run:
	@scripts/bootstrap run
	.venv/bin/postvagt run --policy policies/trial.yaml

test:
	@scripts/bootstrap test
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/python -m pytest -m "not slow" --durations=15

# The long variants (reliability under fire, the fuzz targets, the corpus through scan):
# CI runs them after `make test`.
test-slow:
	@scripts/bootstrap test
	.venv/bin/python -m pytest -m slow --durations=15

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

bench:
	@scripts/bootstrap test
	.venv/bin/python bench/relay.py
	.venv/bin/python bench/store.py
	.venv/bin/python bench/detect.py
