"""The fleet as it is: what each app host runs and what each proxy routes, observed at the start of an
operation (app role observe.yml, nginx role observe.yml), reconciled with the ledger before the run plans.
The ledger says what a run believed; a killed controller leaves it behind the hosts. This is the truth."""
from __future__ import annotations

from typing import Any, Mapping


def bundle_fleet(app_hosts: list[str], hostvars: Mapping[str, Any], proxies: list[str]) -> dict[str, Any]:
    """{releases: {host: release or ''}, unknown: [hosts not observed], running: the one release every app
    host runs ('' when they differ, one runs nothing or one is unknown), mixed, summary (for a person),
    drained: [app hosts out of rotation on some proxy], undrain: [those that run a release and answer health]}."""
    releases: dict[str, str] = {}
    healthy: dict[str, bool] = {}
    unknown: list[str] = []
    for host in app_hosts:
        seen = (hostvars.get(host) or {}).get("app_observed")
        if not isinstance(seen, Mapping):
            unknown.append(host)
            continue
        releases[host] = str(seen.get("release") or "")
        healthy[host] = str(seen.get("healthy")).lower() == "true"
    drained = sorted({h for proxy in proxies
                      for h, state in ((hostvars.get(proxy) or {}).get("nginx_observed_upstream") or {}).items()
                      if state == "drained" and h in app_hosts})
    distinct = set(releases.values())
    running = distinct.pop() if len(distinct) == 1 and not unknown else ""
    mixed = len(set(releases.values())) > 1
    if running:
        summary = running
    elif releases and not mixed and not unknown:
        summary = "nothing"
    else:
        summary = "MIXED (" + ", ".join(f"{h}: {releases[h] or 'nothing'}" for h in sorted(releases)) + \
            "".join(f", {h}: not observed" for h in unknown) + ")"
    return {
        "releases": releases, "unknown": unknown, "running": running, "mixed": mixed or bool(unknown and releases),
        "summary": summary, "drained": drained,
        "undrain": [h for h in drained if releases.get(h) and healthy.get(h)],
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"bundle_fleet": bundle_fleet}
