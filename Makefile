# gochat: `make run` installs and serves on an embedded PostgreSQL; `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help build run test lint system-deps clean migrate docker-build docker-run bench

help:
	@echo "Available commands:"
	@echo "  make run          - install into $(VENV) and serve on :8080 (embedded PostgreSQL unless DATABASE_URL is set)"
	@echo "  make test         - install, then lint (ruff), type-check (mypy) and run the whole test suite"
	@echo "  make build        - build a wheel into dist/"
	@echo "  make migrate      - apply pending migrations"
	@echo "  make bench        - run the benchmark suite (quick, ~12 min; MODE=full for the long one), plots in docs/bench/"
	@echo "  make clean        - remove the venv, build artifacts and local data (./var)"
	@echo "  make docker-build - build the Docker image"

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

build: $(STAMP)
	$(BIN)/pip wheel --quiet --no-deps -w dist .

run: $(STAMP)
	$(BIN)/gochat serve

lint: $(STAMP)
	$(BIN)/ruff check gochat tests bench
	$(BIN)/ruff format --check gochat tests bench
	$(BIN)/mypy

system-deps:
	bash .ci/install-system-deps

test: lint system-deps
	$(BIN)/pytest $(PYTEST_ARGS)

migrate: $(STAMP)
	$(BIN)/gochat migrate

bench: $(STAMP)
	$(BIN)/python -m bench.suite --$(or $(MODE),quick)

clean:
	rm -rf $(VENV) build dist *.egg-info var .pytest_cache .mypy_cache .ruff_cache

docker-build:
	docker build -t gochat:latest .

docker-run:
	docker run -p 8080:8080 -e DATABASE_URL=$(DATABASE_URL) -e REDIS_URL=$(REDIS_URL) -e JWT_SECRET=$(JWT_SECRET) gochat:latest
