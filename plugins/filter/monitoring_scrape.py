"""Filters of the monitoring role: Prometheus scrape configs from inventory groups, durations.

`monitoring_scrape_configs(jobs, groups, hostvars, blackbox_address)` turns the role's job list
(vars/main.yml) into Prometheus `scrape_configs`. A job whose group is absent or empty yields
nothing. A target is an inventory host (its private address comes from its gathered facts,
`ansible_facts.default_ipv4.address`) or, when not in the inventory, a literal host name/address.
"""
from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from ansible.errors import AnsibleFilterError

DURATION = re.compile(r"^([0-9]+)(ms|s|m|h|d|w|y)$")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
KINDS = ("scrape", "http_probe", "tcp_probe", "url_probe")


def duration_seconds(value: str) -> float:
    """'5m' -> 300.0 (Prometheus duration with a single unit)."""
    match = DURATION.match(str(value))
    if not match:
        raise AnsibleFilterError(f"not a Prometheus duration (e.g. 30s, 5m, 2h): {value!r}")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


def private_address(host: str, hostvars: Mapping[str, Any]) -> str:
    """A host's private address from its facts; a name not in the inventory is used as written."""
    if host not in hostvars:
        return host
    try:
        return str(hostvars[host]["ansible_facts"]["default_ipv4"]["address"])
    except Exception:  # noqa: BLE001 - missing key or undefined variable alike
        raise AnsibleFilterError(
            f"no ansible_facts.default_ipv4.address for {host}: gather facts for every monitored host in the play"
        ) from None


def job_hosts(job: Mapping[str, Any], groups: Mapping[str, Sequence[str]]) -> list[str]:
    """Explicit targets when set (not None), else the hosts of the job's group (none if absent)."""
    if job.get("targets") is not None:
        return list(job["targets"])
    return list(groups.get(job.get("group") or "", []))


def hosts_missing_facts(
    jobs: Sequence[Mapping[str, Any]], groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any]
) -> list[str]:
    """Inventory hosts targeted by some job whose private address is not known yet (facts to gather)."""
    missing: list[str] = []
    for job in jobs:
        for host in job_hosts(job, groups) if job.get("kind", "scrape") != "url_probe" else []:
            if host in hostvars and host not in missing:
                try:
                    hostvars[host]["ansible_facts"]["default_ipv4"]["address"]
                except Exception:  # noqa: BLE001 - a missing or undefined fact of any kind means "gather"
                    missing.append(host)
    return missing


def _probe_relabel(blackbox_address: str) -> list[dict[str, Any]]:
    return [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "target"},
        {"target_label": "__address__", "replacement": blackbox_address},
    ]


def _target(job: Mapping[str, Any], address: str) -> str:
    kind = job["kind"]
    if kind == "http_probe":
        return f"{job.get('scheme', 'http')}://{address}:{job['port']}{job.get('path', '/')}"
    return f"{address}:{job['port']}"


def scrape_configs(
    jobs: Sequence[Mapping[str, Any]],
    groups: Mapping[str, Sequence[str]],
    hostvars: Mapping[str, Any],
    blackbox_address: str,
) -> list[dict[str, Any]]:
    """Prometheus scrape_configs for every enabled job (enabled: false turns one off) that has at least one target."""
    configs: list[dict[str, Any]] = []
    for job in jobs:
        if str(job.get("enabled", True)).lower() in ("false", "0", "no"):
            continue
        kind = job.get("kind", "scrape")
        if kind not in KINDS:
            raise AnsibleFilterError(f"job {job.get('job')}: kind must be one of {KINDS}, got {kind!r}")
        if kind == "url_probe":
            static = [{"targets": [url], "labels": {"instance": url}} for url in job.get("urls") or []]
        else:
            static = [
                {"targets": [_target(dict(job, kind=kind), private_address(host, hostvars))], "labels": {"instance": host}}
                for host in job_hosts(job, groups)
            ]
        if not static:
            continue
        config: dict[str, Any] = {"job_name": job["job"], "static_configs": static}
        if kind == "scrape":
            config["metrics_path"] = job.get("path", "/metrics")
        else:
            config["metrics_path"] = "/probe"
            config["params"] = {"module": [job["module"]]}
            config["relabel_configs"] = _probe_relabel(blackbox_address)
        configs.append(config)
    return configs


class FilterModule:
    """monitoring_scrape_configs, monitoring_hosts_missing_facts, monitoring_duration_seconds."""

    def filters(self) -> dict[str, Any]:
        return {
            "monitoring_scrape_configs": scrape_configs,
            "monitoring_duration_seconds": duration_seconds,
            "monitoring_hosts_missing_facts": hosts_missing_facts,
        }
