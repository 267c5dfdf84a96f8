#!/usr/bin/python
"""The deploy lock of an environment (on its state host)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bundle_lock
short_description: Take, refresh, release or clear the deploy lock of an environment
description:
  - The lock is C(<root>/deploy.lock), created atomically (O_EXCL) with a human-readable JSON record
    (command, release, operator, controller, pid, started, heartbeat) and a random token.
  - C(acquire) takes it, waiting up to C(wait) seconds while another holder has it; it never fails for
    a busy lock but returns C(acquired=false) and the holder, so the playbook can say who holds it and
    whether that holder looks gone (see the filter bundle_lock_stale).
  - C(heartbeat) refreshes the heartbeat (and merges C(fields)) when C(token) still owns the lock.
  - C(release) removes it when C(token) owns it. C(clear) removes a lock whose token is C(token)
    (the stale lock that was reported), never a lock taken since. C(show) returns the holder.
options:
  action: {description: What to do., required: true, type: str, choices: [acquire, heartbeat, release, clear, show]}
  root: {description: Folder of the lock on the state host., type: path, default: /var/lib/bundle}
  holder: {description: The holder record (acquire)., type: dict, default: {}}
  token: {description: The token acquire returned (heartbeat, release, clear)., type: str, no_log: false, default: ''}
  fields: {description: Fields to merge into the record (heartbeat)., type: dict, default: {}}
  wait: {description: Seconds acquire waits for a busy lock., type: int, default: 0}
  poll: {description: Seconds between two attempts while waiting., type: int, default: 2}
author: bundle maintainers
"""

EXAMPLES = r"""
- name: Lock | take the deploy lock
  bundle_lock:
    action: acquire
    holder: {command: deploy, release: src-3f2a9c1b2d4e, operator: alice, controller: ops1, pid: 4242}
    wait: 0
  register: lock
"""

RETURN = r"""
acquired: {description: Whether this run holds the lock now., returned: acquire, type: bool}
holder: {description: "The lock record (ours after acquire/heartbeat, the other holder's when busy).", returned: always, type: dict}
waited: {description: Seconds spent waiting., returned: acquire, type: int}
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.bundle_ledger import LedgerError, Lock


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", required=True, choices=["acquire", "heartbeat", "release", "clear", "show"]),
            root=dict(type="path", default="/var/lib/bundle"),
            holder=dict(type="dict", default={}),
            token=dict(type="str", default="", no_log=False),
            fields=dict(type="dict", default={}),
            wait=dict(type="int", default=0),
            poll=dict(type="int", default=2),
        ),
        required_if=[("action", "heartbeat", ["token"]), ("action", "release", ["token"]), ("action", "clear", ["token"])],
        supports_check_mode=False,
    )
    p = module.params
    lock = Lock(p["root"])
    try:
        if p["action"] == "show":
            module.exit_json(changed=False, holder=lock.read() or {})
        if p["action"] == "acquire":
            start = time.monotonic()
            while True:
                acquired, holder = lock.acquire(p["holder"])
                waited = int(time.monotonic() - start)
                if acquired or waited >= p["wait"]:
                    module.exit_json(changed=acquired, acquired=acquired, holder=holder, waited=waited)
                time.sleep(max(1, p["poll"]))
        if p["action"] == "heartbeat":
            module.exit_json(changed=True, holder=lock.heartbeat(p["token"], p["fields"]))
        if p["action"] == "release":
            module.exit_json(changed=lock.release(p["token"]), holder={})
        module.exit_json(changed=lock.clear(p["token"]), holder={})
    except LedgerError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
