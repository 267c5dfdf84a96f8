"""Filters of the nfs role: client allow-lists, kernel exports lines, client mount options."""
from __future__ import annotations

import ipaddress
from typing import Any

WILDCARDS = ("*", "0.0.0.0/0", "::/0")
SQUASH = ("root_squash", "all_squash", "no_root_squash")


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def nfs_client_addresses(names: list[str], hostvars: dict[str, Any]) -> list[str]:
    """Resolve nfs_extra_clients: inventory host names become their default_ipv4 address,
    addresses/CIDRs and wildcards ('*') stay as given (preflight decides about wildcards).

    A host name without gathered facts, or an entry that is neither a host nor an address,
    raises an error naming nfs_extra_clients instead of silently dropping out of the list.
    """
    out: list[str] = []
    for raw in names:
        name = str(raw).strip()
        if name in hostvars:
            address = hostvars[name].get("ansible_facts", {}).get("default_ipv4", {}).get("address")
            if not address:
                raise ValueError(f"nfs_extra_clients: host {name} has no gathered default_ipv4 address; gather facts for it first")
            out.append(str(address))
        elif name in WILDCARDS or _is_network(name):
            out.append(name)
        else:
            raise ValueError(f"nfs_extra_clients: '{name}' is neither an inventory host nor an address/CIDR")
    return out


def nfs_share_defaults(share: dict[str, Any], owner_uid: int, owner_gid: int) -> dict[str, Any]:
    """A share with every optional key filled in (mount_point = path, owner = the shares' owner, mode 2770)."""
    if "name" not in share or "path" not in share:
        raise ValueError(f"nfs_shares: every share needs a name and a path, got {share!r}")
    full: dict[str, Any] = {"mount_point": share["path"], "owner_uid": owner_uid, "owner_gid": owner_gid, "mode": "2770",
                            "readonly": False, "squash": "root_squash", "export_options": []}
    full.update(share)
    return full


def nfs_has_wildcard(clients: list[str]) -> bool:
    """True when an allow-list admits everyone ('*', 0.0.0.0/0, ::/0)."""
    return any(str(c).strip() in WILDCARDS for c in clients)


def nfs_export_options(share: dict[str, Any], anon_uid: int, anon_gid: int) -> list[str]:
    """Kernel export options of one share: rw/ro, sync, squash mode, anon ids, no_subtree_check, extras."""
    squash = share.get("squash", "root_squash")
    if squash not in SQUASH:
        raise ValueError(f"nfs_shares[{share.get('name')}].squash must be one of {', '.join(SQUASH)}, got {squash}")
    options = ["ro" if share.get("readonly", False) else "rw", "sync", squash, "no_subtree_check",
               f"anonuid={anon_uid}", f"anongid={anon_gid}"]
    for extra in share.get("export_options", []):
        key = str(extra).split("=", 1)[0]
        # An extra option replaces a default of the same key (e.g. async replaces sync).
        opposite = {"async": "sync", "sync": "async", "ro": "rw", "rw": "ro", "subtree_check": "no_subtree_check"}.get(key)
        options = [o for o in options if o.split("=", 1)[0] not in (key, opposite)]
        options.append(str(extra))
    return options


def nfs_exports_line(share: dict[str, Any], clients: list[str], anon_uid: int = 65534, anon_gid: int = 65534) -> str:
    """One /etc/exports line: `<path> <client>(<options>) ...`, one entry per allowed client."""
    path = str(share["path"])
    if not path.startswith("/") or any(ch.isspace() for ch in path):
        raise ValueError(f"nfs_shares[{share.get('name')}].path must be absolute without spaces, got '{path}'")
    if not clients:
        raise ValueError(f"nfs_shares[{share.get('name')}]: no allowed clients")
    opts = ",".join(nfs_export_options(share, anon_uid, anon_gid))
    return path + " " + " ".join(f"{c}({opts})" for c in clients)


def nfs_mount_options(options: list[str], automount: bool = False, idle_timeout: int = 600) -> str:
    """fstab options for a client mount; automount adds systemd's on-demand mount options."""
    opts = [str(o) for o in options]
    if automount:
        opts += ["x-systemd.automount", f"x-systemd.idle-timeout={idle_timeout}"]
    return ",".join(dict.fromkeys(opts))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "nfs_client_addresses": nfs_client_addresses,
            "nfs_share_defaults": nfs_share_defaults,
            "nfs_has_wildcard": nfs_has_wildcard,
            "nfs_export_options": nfs_export_options,
            "nfs_exports_line": nfs_exports_line,
            "nfs_mount_options": nfs_mount_options,
        }
