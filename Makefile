# The two set-up commands are `make up` and `make test`; both install what they need.
SHELL := /bin/bash
VENV  := .venv/bin
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

SCENARIOS ?=

.PHONY: help bootstrap lint unit molecule test test-faults up down check

help:
	@echo "make up        deploy the whole stack to local lab hosts (containers)"
	@echo "make down      remove the lab hosts, network and volumes"
	@echo "make test      lint and unit tests beside every Molecule scenario (SCENARIOS='a b' for some)"
	@echo "make lint      yamllint, ansible-lint (production profile), argument_specs drift"
	@echo "make unit      pytest unit tests (plugins, scripts, reference app)"
	@echo "make test-faults  the stack scenario alone (faults, exposure, secrets, bad input, deploys)"

bootstrap:
	@lab/bootstrap.sh

lint: bootstrap
	yamllint --strict .
	ansible-lint --offline
	python tests/check_argument_specs.py

# docshare's integration tests need PostgreSQL and Redis: molecule/stack runs them against the stack's
# (test_12_docshare_integration.py), so they are not collected here.
unit: bootstrap
	python -m pytest -q -p no:cacheprovider tests/unit apps/docshare/tests apps/notes/tests \
	  --ignore=apps/docshare/tests/test_docshare_integration.py

molecule: bootstrap
	python tests/molecule_runner.py $(SCENARIOS)

# The faults, exposure, secrets and bad-input tests live in the full-topology scenario: `make test` runs
# them with every other scenario (molecule); this target runs that scenario alone.
test-faults: bootstrap
	python tests/molecule_runner.py stack

# Lint and unit tests run beside the Molecule scenarios (they take a few minutes of one core while the
# scenarios' hosts are still being created); any failure fails `make test`, whose last line stays the
# scenarios' "N passed, N failed".
test: bootstrap
	$(MAKE) --no-print-directory -j3 lint unit molecule

# APP=path/to/overlay: converge another app over the lab (roles/app/README.md, "Your own app").
up: bootstrap
	ansible-playbook lab/up.yml
	ansible-playbook lab/tls.yml
	ansible-playbook -i inventories/lab $(if $(APP),-i $(APP)) playbooks/site.yml
	@ansible-playbook lab/summary.yml

down: bootstrap
	ansible-playbook lab/down.yml
	rm -rf .cache/facts

check: bootstrap
	ansible-playbook -i inventories/lab playbooks/site.yml --check --diff
