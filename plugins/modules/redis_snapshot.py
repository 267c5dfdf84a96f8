#!/usr/bin/python
"""Figures of a Redis snapshot (keys per database, read from the RDB file itself) and their comparison after a restore."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: redis_snapshot
short_description: Keys per database of an RDB file, and a live server's keyspace compared with them
description:
  - "C(checks): loads C(rdb) into a throwaway C(redis-server) (no TCP port, a unix socket in a private temporary
    directory, no persistence; the file is only read, through a symbolic link) and reads its C(INFO keyspace).
    The figures are those of the file itself, so they match the snapshot exactly. Needs memory for the dataset
    while it runs. Returns C(checks) ({databases: {db0: {keys, expires}}, keys}) and C(tool) (redis-server version)."
  - "C(compare): parses C(keyspace) (the output of C(INFO keyspace) of the restored server) and returns C(mismatches)
    against C(checks): per database, the keys must equal the recorded keys, less at most the recorded keys with a TTL
    (those may have expired since the snapshot)."
options:
  action: {description: What to do., required: true, type: str, choices: [checks, compare]}
  rdb: {description: RDB file (checks)., type: path}
  keyspace: {description: Output of INFO keyspace (compare)., type: str}
  checks: {description: checks recorded in meta.json (compare)., type: dict}
  timeout: {description: Seconds to wait for the throwaway server to load the file., type: int, default: 300}
author: bundle maintainers
"""

EXAMPLES = r"""
- name: Keys per database of the snapshot's RDB
  redis_snapshot:
    action: checks
    rdb: /var/backups/bundle/redis/src-3f2a9c1b2d4e/dump.rdb
"""

RETURN = r"""
checks: {description: "{databases: {db<N>: {keys, expires}}, keys}.", returned: checks, type: dict}
tool: {description: "{name: redis-server, version}.", returned: checks, type: dict}
mismatches: {description: Differences between the live keyspace and checks (empty when they agree)., returned: compare, type: list}
"""

import subprocess
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.bundle_redis_rdb import (  # noqa: F401  (parse_keyspace and the rest: this module's interface)
    RedisCheckError, keyspace_checks, mismatches, parse_keyspace, rdb_keyspace, redis_version)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "required": True, "choices": ["checks", "compare"]},
            "rdb": {"type": "path"},
            "keyspace": {"type": "str"},
            "checks": {"type": "dict"},
            "timeout": {"type": "int", "default": 300},
        },
        required_if=[("action", "checks", ["rdb"]), ("action", "compare", ["keyspace", "checks"])],
        supports_check_mode=True,
    )
    params = module.params
    if params["action"] == "compare":
        module.exit_json(changed=False, mismatches=mismatches(parse_keyspace(params["keyspace"]), params["checks"]))
    try:
        databases = rdb_keyspace(Path(params["rdb"]), params["timeout"])
        version = redis_version(subprocess.run(["redis-server", "--version"], stdout=subprocess.PIPE, text=True, check=False).stdout)
    except (RedisCheckError, OSError, subprocess.SubprocessError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, checks=keyspace_checks(databases), tool={"name": "redis-server", "version": version})


if __name__ == "__main__":
    main()
