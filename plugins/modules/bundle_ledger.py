#!/usr/bin/python
"""Read and write the release ledger of an environment (on its state host)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bundle_ledger
short_description: The release ledger of an environment (one JSON record per release)
description:
  - Records live in C(<root>/releases/<release>.json); C(<root>/current.json) names the running release.
  - C(check) refuses a release that begin would refuse (a bad one) and changes nothing.
  - C(begin) starts or resumes a deploy (status unfinished); a bad release is refused.
  - C(update) merges fields (C(phases) merged key by key; a key ending in C(+) appends to a list) and optionally sets a status.
  - A status request after hosts changed never fails; a bad release keeps its status with a history note
    (OUTCOME_TABLE in module_utils/bundle_ledger.py says what each request does in each status).
  - C(aborted) marks a release whose run ended by an environment failure; it is not bad and may be deployed again.
  - C(current) points current.json at a release.
  - C(show) returns every record, the current release, the last good one and the protected ids.
  - C(rollback_target) returns the release a rollback goes to (C(requested) or the last good one).
options:
  action: {description: What to do., required: true, type: str, choices: [check, begin, update, current, show, rollback_target]}
  root: {description: Folder of the ledger on the state host., type: path, default: /var/lib/bundle}
  release: {description: The release id (check, begin, update, current)., type: str}
  fields: {description: Fields to store (begin, update)., type: dict, default: {}}
  status: {description: New status (update)., type: str, choices: ['', unfinished, live, good, bad, rolled-back, aborted], default: ''}
  note: {description: History note (update)., type: str, default: ''}
  requested: {description: Explicit rollback target (rollback_target)., type: str, default: ''}
  running:
    description: "What the app hosts run, as observed ('' when they differ); rollback_target excludes it instead of current.json's."
    type: str
  keep_bad_days: {description: Bad releases younger than this are protected from pruning (show)., type: float, default: 7}
author: bundle maintainers
"""

EXAMPLES = r"""
- name: Ledger | deploy starts
  bundle_ledger:
    action: begin
    release: src-3f2a9c1b2d4e
    fields: {operator: alice, previous: src-0a1b2c3d4e5f}
"""

RETURN = r"""
record: {description: "The record after the action (check: as it is, empty when new).", returned: "check, begin, update", type: dict}
records: {description: "Every record, oldest first.", returned: show, type: list}
current: {description: The running release., returned: always, type: str}
last_good: {description: The newest good release., returned: show, type: str}
protected: {description: Release ids pruning must keep., returned: show, type: list}
table: {description: The ledger as a text table., returned: show, type: str}
target: {description: The rollback target with its reason and record., returned: rollback_target, type: dict}
contract: {description: Contracting releases between the target and the running one., returned: rollback_target, type: list}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.bundle_ledger import Ledger, LedgerError, table


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", required=True, choices=["check", "begin", "update", "current", "show", "rollback_target"]),
            root=dict(type="path", default="/var/lib/bundle"),
            release=dict(type="str"),
            fields=dict(type="dict", default={}),
            status=dict(type="str", default="", choices=["", "unfinished", "live", "good", "bad", "rolled-back", "aborted"]),
            note=dict(type="str", default=""),
            requested=dict(type="str", default=""),
            running=dict(type="str"),
            keep_bad_days=dict(type="float", default=7.0),
        ),
        required_if=[("action", "check", ["release"]), ("action", "begin", ["release"]), ("action", "update", ["release"]), ("action", "current", ["release"])],
        supports_check_mode=True,
    )
    p = module.params
    ledger = Ledger(p["root"])
    try:
        if p["action"] == "show":
            records = ledger.records()
            current = ledger.current()
            module.exit_json(changed=False, records=records, current=current, last_good=ledger.last_good(),
                             protected=ledger.protected(p["keep_bad_days"]), table=table(records, current))
        if p["action"] == "rollback_target":
            target = ledger.rollback_target(p["requested"], running=p["running"])
            module.exit_json(changed=False, target=target, current=target["current"],
                             contract=ledger.contract_between(target["release"], target["current"]))
        if p["action"] == "check":
            module.exit_json(changed=False, record=ledger.deployable(p["release"]) or {}, current=ledger.current())
        if module.check_mode:
            module.exit_json(changed=True, current=ledger.current(), record=ledger.get(p["release"]) or {})
        if p["action"] == "begin":
            record = ledger.begin(p["release"], p["fields"])
            module.exit_json(changed=True, record=record, current=ledger.current())
        if p["action"] == "update":
            record = ledger.update(p["release"], p["fields"], p["status"], p["note"])
            module.exit_json(changed=True, record=record, current=ledger.current())
        changed = ledger.set_current(p["release"])
        module.exit_json(changed=changed, current=p["release"])
    except LedgerError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
