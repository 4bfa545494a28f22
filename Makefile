# Short forms; each calls ops-gen or one of the scripts. `make help` lists them.
CARGO ?= cargo
OPS_GEN ?= $(CARGO) run --release --locked --quiet --

.PHONY: help run probe check generate up status down destroy backup test services services-down bench bench-backup bench-profile bench-drift

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: ## serve the exporter (built-in defaults without an ops-gen.yml) on 127.0.0.1:9743
	$(OPS_GEN) serve

probe: ## run every check once and print the results
	$(OPS_GEN) probe

check: ## validate ops-gen.yml and print it resolved, secrets masked
	$(OPS_GEN) config check

generate: ## write the ops profile files (compose, Prometheus, Grafana, Loki, Alloy, Uptime Kuma)
	$(OPS_GEN) compose generate

up: ## preflight, regenerate and start the ops profile; wait until healthy
	$(OPS_GEN) compose up

status: ## one line per ops and app service: green/yellow/red
	$(OPS_GEN) compose status

down: ## stop the ops profile, keeping its data
	$(OPS_GEN) compose down

destroy: ## delete the ops profile's containers and volumes (asks first, backs up first)
	$(OPS_GEN) compose destroy

backup: ## take a backup set of every target
	$(OPS_GEN) backup run

test: ## the whole suite: installs and starts PostgreSQL and Redis, then fmt, clippy, doc, tests
	scripts/test.sh

services: ## start the test services (PostgreSQL, Redis) on loopback
	scripts/services.sh up

services-down: ## stop the test services and delete their data
	scripts/services.sh down

bench: ## compare the exporter with the peer exporters (writes bench/results/latest.md)
	bench/run.sh

bench-backup: ## compare backup run/verify/drill with pg_dump, pg_restore and redis-cli (writes bench/results/backup.md)
	bench/backup.sh

bench-profile: ## time compose generate and compose up against Compose itself (writes bench/results/profile.md)
	bench/profile.sh

bench-drift: ## drift check on a 50-container project: time and Docker API calls (writes bench/results/drift.md)
	bench/drift.sh
