# bev-losses: the two commands of the README, and their parts.
#   make compare   set-up, then the default loss comparison on the synthetic data (the main job)
#   make test      set-up, then the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
COMPARE_ARGS ?=

.PHONY: setup test test-oldest compare data bench clean-venv

setup:
	bash scripts/setup_env.sh

test: setup
	$(PY) -m pytest tests $(PYTEST_ARGS)

test-oldest:
	bash scripts/test_oldest.sh

compare: setup
	$(PY) tools/compare_losses.py --work-dir work_dirs/compare $(COMPARE_ARGS)

data: setup
	$(PY) tools/create_synthetic_data.py

bench: setup
	$(PY) benchmarks/bench_losses.py

clean-venv:
	rm -rf $(VENV)
