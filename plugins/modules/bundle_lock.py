#!/usr/bin/python
"""The deploy lock of an environment (on its state host)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bundle_lock
short_description: Take, refresh, release or clear the deploy lock of an environment
description:
  - The lock is C(<root>/deploy.lock), created atomically (O_EXCL) with a human-readable JSON record
    (command, release, operator, controller, controller_id, pid, started, heartbeat) and a random token.
  - C(acquire) takes it, waiting up to C(wait) seconds while another holder has it; it never fails for
    a busy lock but returns C(acquired=false) and the holder, so the playbook can say who holds it and
    whether that holder looks gone (see the filter bundle_lock_stale).
  - C(heartbeat) refreshes the heartbeat (and merges C(fields)) when C(token) still owns the lock.
  - C(release) removes it when C(token) owns it. C(clear) removes a lock whose token is C(token)
    (the stale lock that was reported), never a lock taken since. C(show) returns the holder.
  - "An empty, truncated or otherwise unreadable lock file is reported, never a crash: its holder record has
    C(unreadable) (why) and the token C(unreadable-<sha256 of its bytes>), which C(clear) accepts."
  - "Ages are measured by the state host's clock (C(age_seconds)), so a controller whose clock is off
    never misjudges a holder; with C(stale_after) the module also says whether the holder is stale."
  - "Check mode: nothing is written. C(show) answers as usual; C(acquire) of a free lock returns
    C(acquired=true) and a holder marked C(check_mode) (token C(check-mode)), of a busy one the holder;
    C(heartbeat) and C(release) report no change; C(clear) reports whether it would remove the lock."
options:
  action: {description: What to do., required: true, type: str, choices: [acquire, heartbeat, release, clear, show]}
  root: {description: Folder of the lock on the state host., type: path, default: /var/lib/bundle}
  holder: {description: The holder record (acquire)., type: dict, default: {}}
  token: {description: "The token acquire returned (heartbeat, release, clear).", type: str, no_log: false, default: ''}
  fields: {description: Fields to merge into the record (heartbeat)., type: dict, default: {}}
  wait: {description: Seconds acquire waits for a busy lock., type: int, default: 0}
  poll: {description: Seconds between two attempts while waiting., type: int, default: 2}
  stale_after:
    description: "Seconds without a heartbeat after which the holder is stale, judged on the state host (0: not judged)."
    type: int
    default: 0
author: bundle maintainers
"""

EXAMPLES = r"""
- name: Lock | take the deploy lock
  bundle_lock:
    action: acquire
    holder: {command: deploy, release: src-3f2a9c1b2d4e, operator: alice, controller: ops1, controller_id: "ops1:4026531836:0b7e", pid: 4242}
    wait: 0
    stale_after: 900
  register: lock
"""

RETURN = r"""
acquired: {description: "Whether this run holds the lock now (in check mode: whether it would).", returned: acquire, type: bool}
holder: {description: "The lock record (ours after acquire/heartbeat, the other holder's when busy, {} when none).", returned: always, type: dict}
waited: {description: Seconds spent waiting., returned: acquire, type: int}
age_seconds:
  description: "Seconds since the holder's heartbeat, by the state host's clock (for an unreadable file: since it was last written)."
  returned: when holder is not empty and has a readable heartbeat
  type: int
stale:
  description: "Why the holder is stale by its heartbeat on the state host ('' when it is not); the controller adds its own pid check."
  returned: when stale_after > 0
  type: str
"""

import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.bundle_ledger import LedgerError, Lock, describe, lock_age, stale_reason, utc_now

# The token of the lock a check-mode run pretends to hold; no lock file ever carries it.
CHECK_MODE_TOKEN = "check-mode"


def judged(result: dict[str, Any], stale_after: int) -> dict[str, Any]:
    """result with the holder's age (and staleness) by this host's clock: the controller's may be off."""
    holder = result.get("holder") or {}
    age = lock_age(holder)
    if age is not None:
        result["age_seconds"] = int(age)
    if stale_after > 0:
        result["stale"] = stale_reason(holder, stale_after, age=age) if holder else ""
    return result


def acquire(lock: Lock, p: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    start = time.monotonic()
    while True:
        if check_mode:
            current = lock.read()
            now = utc_now()
            pretend = dict(p["holder"], token=CHECK_MODE_TOKEN, started=now, heartbeat=now, check_mode=True)
            acquired, holder = (False, current) if current else (True, pretend)
        else:
            acquired, holder = lock.acquire(p["holder"])
        waited = int(time.monotonic() - start)
        if acquired or waited >= p["wait"]:
            return {"changed": acquired and not check_mode, "acquired": acquired, "holder": holder, "waited": waited}
        time.sleep(max(1, p["poll"]))


def heartbeat(lock: Lock, p: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    if not check_mode:
        return {"changed": True, "holder": lock.heartbeat(p["token"], p["fields"])}
    if p["token"] == CHECK_MODE_TOKEN:
        return {"changed": False, "holder": dict(p["fields"], token=CHECK_MODE_TOKEN, heartbeat=utc_now(), check_mode=True)}
    current = lock.read()
    if not current or current.get("token") != p["token"]:
        raise LedgerError(f"the deploy lock is no longer ours (holder now: {describe(current)})")
    return {"changed": False, "holder": dict(current, **p["fields"])}


def run(p: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    lock = Lock(p["root"])
    if p["action"] == "show":
        return judged({"changed": False, "holder": lock.read() or {}}, p["stale_after"])
    if p["action"] == "acquire":
        return judged(acquire(lock, p, check_mode), p["stale_after"])
    if p["action"] == "heartbeat":
        return judged(heartbeat(lock, p, check_mode), p["stale_after"])
    if p["action"] == "release":
        return {"changed": False if check_mode else lock.release(p["token"]), "holder": {}}
    return {"changed": lock.clear(p["token"], dry_run=check_mode), "holder": {}}


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
            stale_after=dict(type="int", default=0),
        ),
        required_if=[("action", "heartbeat", ["token"]), ("action", "release", ["token"]), ("action", "clear", ["token"])],
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module.params, module.check_mode))
    except (LedgerError, OSError) as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
