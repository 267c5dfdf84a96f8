#!/usr/bin/python3
"""Check a docker-registry (CNCF distribution 2.8) config before it replaces the live one.

Used as the template's `validate:`. The registry has no config test mode (`docker-registry serve`
starts serving, there is no `--check`), so this does two things:

1. parses the YAML and checks what the role relies on: version 0.1, filesystem storage under an
   absolute directory with delete enabled, `http.addr` and `http.debug.addr` on a specific address
   (never 0.0.0.0 or ::), TLS certificate and key files that exist, htpasswd auth with an existing
   file, Prometheus metrics enabled on the debug server;
2. runs the registry's own parser on the file: `docker-registry garbage-collect --dry-run` reads the
   config exactly as `serve` does (unknown log levels, bad durations, a second storage driver ...)
   while its storage is pointed at an empty scratch directory through the registry's environment
   override, so the real store is never read and nothing is deleted.

Exit 0 when fine, 1 with one line per problem on stderr otherwise.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

WILDCARDS = {"", "0.0.0.0", "::", "[::]", "*"}


def _get(tree: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key)
    return tree


def check_listen(value: Any, key: str) -> list[str]:
    """A host:port on one specific IP address ([v6]:port for IPv6)."""
    if not isinstance(value, str) or ":" not in value:
        return [f"{key} must be 'address:port', got {value!r}"]
    host, _, port = value.rpartition(":")
    problems: list[str] = []
    if host in WILDCARDS:
        problems.append(f"{key} must name the host's private address, never all addresses ({value!r})")
    else:
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            problems.append(f"{key} must be an IP address and port, got {value!r}")
    if not port.isdigit() or not 0 < int(port) < 65536:
        problems.append(f"{key} has no valid port: {value!r}")
    return problems


def check_file(value: Any, key: str) -> list[str]:
    if not isinstance(value, str) or not value.startswith("/"):
        return [f"{key} must be an absolute path, got {value!r}"]
    if not os.path.isfile(value):
        return [f"{key} {value} does not exist"]
    return []


def check_config(config: Any) -> list[str]:
    """Problems of a parsed config (empty list when it is what the role expects)."""
    if not isinstance(config, dict):
        return ["the config is not a YAML mapping"]
    problems: list[str] = []
    if str(config.get("version")) != "0.1":
        problems.append(f"version must be 0.1, got {config.get('version')!r}")
    storage = config.get("storage")
    drivers = sorted(set(storage or {}) - {"delete", "cache", "maintenance", "redirect"}) if isinstance(storage, dict) else []
    if drivers != ["filesystem"]:
        problems.append(f"storage must have exactly one driver, filesystem; got {drivers}")
    root = _get(storage, "filesystem", "rootdirectory")
    if not isinstance(root, str) or not root.startswith("/"):
        problems.append(f"storage.filesystem.rootdirectory must be an absolute path, got {root!r}")
    if _get(storage, "delete", "enabled") is not True:
        problems.append("storage.delete.enabled must be true (old release images are pruned)")
    problems += check_listen(_get(config, "http", "addr"), "http.addr")
    problems += check_file(_get(config, "http", "tls", "certificate"), "http.tls.certificate")
    problems += check_file(_get(config, "http", "tls", "key"), "http.tls.key")
    auth = config.get("auth")
    if not isinstance(auth, dict) or list(auth) != ["htpasswd"]:
        problems.append(f"auth must be htpasswd only, got {sorted(auth) if isinstance(auth, dict) else auth!r}")
    if not _get(auth, "htpasswd", "realm"):
        problems.append("auth.htpasswd.realm must be set")
    problems += check_file(_get(auth, "htpasswd", "path"), "auth.htpasswd.path")
    problems += check_listen(_get(config, "http", "debug", "addr"), "http.debug.addr")
    if _get(config, "http", "debug", "prometheus", "enabled") is not True:
        problems.append("http.debug.prometheus.enabled must be true (Prometheus scrapes the registry)")
    path = _get(config, "http", "debug", "prometheus", "path")
    if not isinstance(path, str) or not path.startswith("/"):
        problems.append(f"http.debug.prometheus.path must start with '/', got {path!r}")
    return problems


def registry_parse(binary: str, config_path: str) -> list[str]:
    """The registry's own parser on the file, with its storage on an empty scratch directory."""
    with tempfile.TemporaryDirectory(prefix="registry-config-check-") as scratch:
        for sub in ("repositories", "blobs"):
            Path(scratch, "docker", "registry", "v2", sub).mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        env["REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"] = scratch
        proc = subprocess.run([binary, "garbage-collect", "--dry-run", config_path], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60, check=False)
    if proc.returncode == 0:
        return []
    first = next((line for line in proc.stdout.splitlines() if line.strip()), f"exit {proc.returncode}")
    return [f"{binary} rejects the config: {first.strip()}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="candidate config.yml")
    parser.add_argument("--binary", default="/usr/bin/docker-registry", help="registry binary whose parser checks the file")
    args = parser.parse_args(argv)
    try:
        config = yaml.safe_load(Path(args.config).read_text())
    except (OSError, yaml.YAMLError) as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 1
    problems = check_config(config)
    if not problems:
        problems = registry_parse(args.binary, args.config)
    for problem in problems:
        print(f"{args.config}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
