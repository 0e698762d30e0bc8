# Two commands for a newcomer: `make run` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export FLASK_APP := wsgi

.PHONY: install run web worker worker-deliveries beat db seed test lint format bench bench-growth bench-reports bench-lookup-page screenshots clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

db: install
	mkdir -p instance
	$(BIN)/flask db upgrade

seed: db
	$(BIN)/flask demo seed

# Web server + one worker + the one beat, from one command (workers/embedded.py); a simulated
# post and agency move demo dossiers along (DEMO_SIMULATION=0 make run to switch it off).
run: seed
	DEMO_SIMULATION=$${DEMO_SIMULATION:-1} PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://127.0.0.1:$(PORT)} \
	  $(BIN)/python -m workers.embedded --host 127.0.0.1 --port $(PORT)

# The parts alone, e.g. against PostgreSQL and Redis (DATABASE_URL, REDIS_URL): one `make beat`
# in the whole deployment, as many `make worker` (feeds, imports, sweeps, reports, the outbox:
# queue `tracker`) and `make worker-deliveries` (SMS/e-mail notices and status out POSTs, which
# wait on the outside: queues `notifications` and `status_out`) as wanted.
web: db
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

worker: db
	$(BIN)/celery -A workers.main worker -Q tracker -n tracker@%h --loglevel INFO

worker-deliveries: db
	$(BIN)/celery -A workers.main worker -Q notifications,status_out -n deliveries@%h --loglevel INFO

beat: db
	$(BIN)/celery -A workers.main beat --loglevel INFO

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every performance target beside its floor, PostgreSQL durable and with fsync off, one table
# (~25 min). Needs wrk, PostgreSQL and redis-server (apt-get install -y wrk postgresql redis-server).
bench: install
	$(BIN)/python -m bench.run

# The lookups and the feed at 100k and 10M dossiers: cost per operation as the tables grow.
GROWTH ?= 100000,10000000
bench-growth: install
	$(BIN)/python -m bench.run --growth $(GROWTH) --fsync on

# The growth report on generated dossiers beside a plain GROUP BY (DOSSIERS=10000000 for 10M).
DOSSIERS ?= 1000000
bench-reports: install
	$(BIN)/python -m bench.reports --dossiers $(DOSSIERS)

# The citizen's lookup page beside GET /api/v1/track in the same run (target: >= 0.5x).
bench-lookup-page: install
	$(BIN)/python -m bench.lookup_page

# The README's screenshots (docs/screenshots/), taken by the browser tests in real Chromium.
screenshots: install
	SAVE_SCREENSHOTS=1 $(BIN)/pytest -q -k "browser and sqlite"

# The local database (instance/) is kept: delete it by hand to start over.
clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
