# riverlog — two set-up commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test lint unit integration cluster chaos bench compat clean system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

## run: the platform (broker on localhost:9092 and every service built so far), data under ./data
run: $(STAMP)
	$(BIN)/riverlog platform start --data-dir ./data

## cluster: a local ZooKeeper and three brokers, data under ./data/cluster/; Ctrl-C stops them
cluster: $(STAMP) system-deps
	@bash scripts/cluster.sh $(ARGS)

## system-deps: Debian packages the tests use (only when root and missing)
system-deps:
	@bash scripts/system-deps.sh

## test: install everything, then lint and run the whole suite
test: $(STAMP) system-deps lint
	$(BIN)/pytest -q -m "not chaos" -n 2 --dist loadfile tests

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/lint-imports

## chaos: long fault runs (crash trials, cluster fault episodes)
chaos: $(STAMP) system-deps
	RIVERLOG_CHAOS=1 $(BIN)/pytest -q -m chaos tests

## bench: benchmarks; figures go to bench/RESULTS.md
bench: $(STAMP) system-deps
	$(BIN)/python -m bench.run_all

## compat: the client test suites against riverlog (long; SUITE=librdkafka|kafka-python|aiokafka|confluent-kafka for one)
compat: $(STAMP) system-deps
	bash compat/run.sh $(SUITE)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .hypothesis
