# Mitogen for Ansible's linear strategy, from the `mitogen` package in the bundle's venv (requirements-dev.txt):
# one persistent Python interpreter per host, reached over the play's own connection (ssh for real hosts,
# docker for the lab's and Molecule's), instead of a new interpreter and module upload per task.
# ansible.cfg and .config/molecule/config.yml select it; ANSIBLE_STRATEGY=linear runs without it.
from __future__ import annotations

import ansible_mitogen.loaders
import ansible_mitogen.strategy

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    pass
