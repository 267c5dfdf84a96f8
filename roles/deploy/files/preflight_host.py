"""Preflight of one host in one command (deploy role, preflight.yml):
python3 -c "<this file>" SPEC_JSON, with the run's marker on stdin.

SPEC_JSON: {marker, maintenance_marker, wait, space: [{path, data?, need_mb?, what}]}.
1. The run's marker is written (marker: its path; stdin: its JSON), before the check below, so that a
   maintenance job starting meanwhile sees it (the job writes its own marker first too).
2. A maintenance job that runs here (its marker names a live pid) is waited for, at most `wait` seconds.
3. Free MiB under each space path (its nearest existing parent) and, when `data` is given, the MiB of data
   a snapshot copies.
Prints one JSON line {maintenance: the job's marker text or '', space: [{what, path, free_mb, data_mb, need_mb}]}.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any


def write_marker(path: str, content: str) -> None:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    os.umask(0o022)
    with open(path + ".new", "w", encoding="utf-8") as handle:
        handle.write(content)
    os.replace(path + ".new", path)


def running_job(marker: str) -> str:
    """The maintenance job's marker text when its pid is alive, else ''."""
    try:
        with open(marker, encoding="utf-8") as handle:
            text = handle.read()
        pid = int(json.loads(text).get("pid", 0))
    except (OSError, ValueError):
        return ""
    if pid <= 0:
        return ""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return ""
    except PermissionError:
        pass
    return text.strip()


def mib(path: str) -> int:
    while not os.path.exists(path):
        path = os.path.dirname(path) or "/"
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize // (1024 * 1024)


def data_mib(path: str) -> int:
    done = subprocess.run(["du", "-sBM", path], capture_output=True, text=True)
    digits = "".join(c for c in done.stdout.split("\t")[0] if c.isdigit())
    return int(digits or 0)


def main(spec: dict[str, Any], marker_text: str) -> dict[str, Any]:
    write_marker(spec["marker"], marker_text)
    deadline = time.monotonic() + float(spec.get("wait", 0))
    job = running_job(spec["maintenance_marker"])
    while job and time.monotonic() < deadline:
        time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
        job = running_job(spec["maintenance_marker"])
    space = []
    for check in spec.get("space", []):
        data = data_mib(check["data"]) if check.get("data") else 0
        space.append({"what": check["what"], "path": check["path"], "free_mb": mib(check["path"]), "data_mb": data,
                      "need_mb": int(check["need_mb"]) if check.get("need_mb") is not None else None})
    return {"maintenance": job, "space": space}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]), sys.stdin.read())))
