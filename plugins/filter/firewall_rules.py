"""Filters of the firewall role: check the service list, pick this host's rules, write them as nftables.

An entry of firewall_services / firewall_extra_rules says who may connect to what:
    {name: redis, group: redis, ports: [6379], protocols: [tcp], from_groups: [app, monitor], from_networks: []}
`group` is where the rule applies (hosts of that inventory group, `all` for every host), the sources are
the addresses of the hosts of `from_groups` (resolved by the role with bundle_group_addresses) plus
`from_networks`. A site addition may instead give one raw nftables statement: {name, group, rule}.
Addresses of groups are resolved by the role (bundle_group_addresses); network syntax is checked there
with bundle_is_network. These filters only use the results.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any, Iterable, Mapping, Sequence

PROTOCOLS = ("tcp", "udp")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SERVICE_KEYS = {"name", "group", "ports", "protocols", "from_groups", "from_networks"}
RAW_KEYS = {"name", "group", "rule"}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _label(variable: str, index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, Mapping) else None
    return f"{variable}[{index}]" + (f" ({name})" if name else "")


def _is_port(value: Any) -> bool:
    """A port number 1-65535, as an int or a string of digits (a templated "{{ redis_port }}")."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        return False
    return 0 < int(value) < 65536


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _entry_problems(entry: Mapping[str, Any], known: set[str]) -> list[str]:
    out: list[str] = []
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        out.append(f"name must be letters, digits, '.', '_' or '-' (at most 64), got {name!r}")
    group = entry.get("group")
    if not isinstance(group, str) or not group:
        out.append("group (the inventory group of the hosts the rule is on, or all) is missing")
    elif group not in known:
        out.append(f"group '{group}' is neither an inventory group nor in firewall_known_groups (a typo?)")
    if "rule" in entry:
        extra = sorted(set(entry) - RAW_KEYS)
        rule = entry["rule"]
        if extra:
            out.append(f"a raw rule takes only name, group and rule; remove {', '.join(extra)}")
        if not isinstance(rule, str) or not rule.strip() or "\n" in rule or ";" in rule:
            out.append("rule must be one nftables statement on one line, without ';'")
        return out
    unknown = sorted(set(entry) - SERVICE_KEYS)
    if unknown:
        out.append(f"unknown key(s) {', '.join(unknown)}; keys are {', '.join(sorted(SERVICE_KEYS))} (or name, group, rule)")
    ports = entry.get("ports")
    if not isinstance(ports, list) or not ports or not all(_is_port(p) for p in ports):
        out.append(f"ports must be a non-empty list of port numbers 1-65535, got {ports!r}")
    protocols = entry.get("protocols", ["tcp"])
    if not _str_list(protocols) or not protocols or set(protocols) - set(PROTOCOLS):
        out.append(f"protocols must be a non-empty list of {' and '.join(PROTOCOLS)}, got {protocols!r}")
    from_groups = entry.get("from_groups", [])
    from_networks = entry.get("from_networks", [])
    if not _str_list(from_groups):
        out.append(f"from_groups must be a list of inventory group names, got {from_groups!r}")
    else:
        typos = [g for g in from_groups if g not in known]
        if typos:
            out.append(f"from_groups {', '.join(typos)}: neither inventory groups nor in firewall_known_groups (a typo?)")
    if not _str_list(from_networks):
        out.append(f"from_networks must be a list of addresses or CIDR networks, got {from_networks!r}")
    if not from_groups and not from_networks:
        out.append("needs from_groups or from_networks (to close a port, leave it out: what no rule admits is dropped)")
    return out


def firewall_problems(entries: Any, variable: str, known_groups: Iterable[str]) -> list[str]:
    """What is wrong with a list of entries, one message per problem, each naming variable[index] (name).

    known_groups: the inventory's group names plus firewall_known_groups (names that may have no hosts).
    """
    if not isinstance(entries, list):
        return [f"{variable} must be a list of entries, got {type(entries).__name__}"]
    known = set(known_groups)
    out: list[str] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            out.append(f"{variable}[{index}] must be a mapping (name, group, ports, from_groups, ...), got {entry!r}")
            continue
        out += [f"{_label(variable, index, entry)}: {p}" for p in _entry_problems(entry, known)]
    return out


def _applies(entry: Mapping[str, Any], host_groups: Sequence[str]) -> bool:
    return entry.get("group") == "all" or entry.get("group") in host_groups


def firewall_source_groups(entries: Sequence[Mapping[str, Any]], host_groups: Sequence[str]) -> list[str]:
    """Groups whose hosts' addresses the rules of a host in host_groups (its group_names) admit."""
    out: list[str] = []
    for entry in entries:
        if _applies(entry, host_groups):
            out += [g for g in entry.get("from_groups", []) if g not in out]
    return out


def _collapse(sources: Iterable[str]) -> tuple[list[Network], list[Network]]:
    nets = [ipaddress.ip_network(s, strict=False) for s in sources]
    v4 = list(ipaddress.collapse_addresses(n for n in nets if n.version == 4))
    v6 = list(ipaddress.collapse_addresses(n for n in nets if n.version == 6))
    return v4, v6


def _ports(ports: Sequence[int]) -> str:
    return str(ports[0]) if len(ports) == 1 else "{ " + ", ".join(str(p) for p in ports) + " }"


def _element(net: Network) -> str:
    """A set element as people write it: 10.0.0.11 for a single host, 10.0.0.0/24 for a network."""
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _family_match(family: str, nets: Sequence[Network]) -> str:
    if nets and nets[0].prefixlen == 0:
        return f"meta nfproto {family}"
    return ("ip" if family == "ipv4" else "ip6") + " saddr { " + ", ".join(_element(n) for n in nets) + " }"


def _statements(name: str, protocols: Sequence[str], ports: Sequence[int],
                v4: Sequence[Network], v6: Sequence[Network]) -> list[str]:
    tail = f"counter accept comment \"{name}\""
    everyone = bool(v4) and bool(v6) and v4[0].prefixlen == 0 and v6[0].prefixlen == 0
    matches = [""] if everyone else [_family_match(f, n) + " " for f, n in (("ipv4", v4), ("ipv6", v6)) if n]
    return [f"{m}{proto} dport {_ports(ports)} {tail}" for m in matches for proto in protocols]


def firewall_rules(entries: Sequence[Mapping[str, Any]], host_groups: Sequence[str],
                   group_addresses: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """The rules of one host: the entries whose group it is in, with their sources resolved.

    Each rule: name, comment (one line a person reads), protocols, ports, networks (collapsed CIDRs,
    IPv4 first) and statements (nftables lines for the input chain; none when no source has hosts,
    which admits nobody). A raw entry keeps its rule as its only statement.
    """
    rules: list[dict[str, Any]] = []
    for entry in entries:
        if not _applies(entry, host_groups):
            continue
        name = entry["name"]
        if "rule" in entry:
            rules.append({"name": name, "comment": f"{name}: site rule as written", "protocols": [], "ports": [],
                          "networks": [], "statements": [entry["rule"].strip()]})
            continue
        protocols = [p for p in PROTOCOLS if p in entry.get("protocols", ["tcp"])]
        ports = sorted({int(p) for p in entry["ports"]})
        from_groups = list(entry.get("from_groups", []))
        sources = [a for g in from_groups for a in group_addresses.get(g, [])] + list(entry.get("from_networks", []))
        v4, v6 = _collapse(sources)
        who = ", ".join(from_groups + list(entry.get("from_networks", []))) or "nobody"
        comment = f"{name}: {'/'.join(protocols)} {', '.join(str(p) for p in ports)} from {who}"
        if not v4 and not v6:
            comment += " (no hosts there: nobody admitted)"
        rules.append({"name": name, "comment": comment, "protocols": protocols, "ports": ports,
                      "networks": [str(n) for n in v4 + v6], "statements": _statements(name, protocols, ports, v4, v6)})
    return rules


def firewall_address_in(address: Any, networks: Sequence[str]) -> bool:
    """True when address (an IPv4-mapped IPv6 address counts as IPv4) lies in one of networks."""
    try:
        ip = ipaddress.ip_address(str(address).strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in ipaddress.ip_network(str(n), strict=False) for n in networks)


def firewall_admits(rules: Sequence[Mapping[str, Any]], address: Any, protocol: str, port: Any) -> bool:
    """True when one of a host's rules (firewall_rules) admits address on protocol/port. Raw rules do not count."""
    return any(protocol in rule["protocols"] and int(port) in rule["ports"] and firewall_address_in(address, rule["networks"])
               for rule in rules)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "firewall_problems": firewall_problems,
            "firewall_source_groups": firewall_source_groups,
            "firewall_rules": firewall_rules,
            "firewall_address_in": firewall_address_in,
            "firewall_admits": firewall_admits,
        }
