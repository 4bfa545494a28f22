# Short forms; each calls ops-gen or one of the scripts. `make help` lists them.
CARGO ?= cargo
OPS_GEN ?= $(CARGO) run --release --locked --

.PHONY: help run probe check generate doctor up status health smoke down destroy backup restore bundle storage test services services-down bench bench-backup bench-profile bench-doctor bench-drift bench-bundle bench-api bench-login

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

doctor: ## preflight: Docker, Compose, ports, disk, memory, clock, config, targets, backup folder, pg_dump
	$(OPS_GEN) doctor

up: ## doctor's host checks, then regenerate and start the ops profile; wait until healthy
	$(OPS_GEN) compose up

status: ## one line per ops and app service: green/yellow/red
	$(OPS_GEN) compose status

health: ## one line per ops component and target, from its own health endpoint; exit 1 if any is down
	$(OPS_GEN) health

smoke: ## end-to-end validation of the profile and the app checks; writes output/smoke/
	$(OPS_GEN) smoke

down: ## stop the ops profile, keeping its data
	$(OPS_GEN) compose down

destroy: ## delete the ops profile's containers and volumes (asks first, backs up first)
	$(OPS_GEN) compose destroy

backup: ## take a backup set of every target
	$(OPS_GEN) backup run

restore: ## restore a backup set into the real targets (asks first): make restore FROM=output/backups/<set>
	$(OPS_GEN) backup restore --from "$(or $(FROM),$(error set FROM=output/backups/<set>))"

bundle: ## diagnostics bundle (metrics, logs, health, context), redacted, in output/ops/
	$(OPS_GEN) bundle

storage: ## size of the profile's volumes and output folders against the disk budget
	$(OPS_GEN) storage status

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

bench-login: ## /healthz latency while 32 connections send wrong basic-auth passwords (writes bench/results/login.md)
	bench/login.sh

bench-api: ## ops API: beacon ingest with memory, events fan-out to 100 subscribers (writes bench/results/api.md)
	bench/api.sh

bench-drift: ## drift check on a 50-container project: time and Docker API calls (writes bench/results/drift.md)
	bench/drift.sh

bench-doctor: ## time doctor and health with everything up (writes bench/results/doctor.md)
	bench/doctor.sh

bench-bundle: ## bundle of a 20-container project with 10,000 log lines each (writes bench/results/bundle.md)
	bench/bundle.sh
