"""Unit tests of the nfs role's filters (plugins/filter/nfs_exports.py)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))
from nfs_exports import (  # noqa: E402
    nfs_client_addresses,
    nfs_export_options,
    nfs_exports_line,
    nfs_has_wildcard,
    nfs_mount_options,
    nfs_share_defaults,
)

HOSTVARS = {
    "proxy1": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.5"}}},
    "nofacts": {},
}
SHARE = {"name": "documents", "path": "/srv/nfs/documents"}


def test_extra_clients_resolve_hosts_and_keep_addresses():
    assert nfs_client_addresses(["proxy1", "10.0.1.0/24", "10.0.0.9"], HOSTVARS) == ["10.0.0.5", "10.0.1.0/24", "10.0.0.9"]


def test_extra_client_without_facts_or_unknown_is_an_error():
    with pytest.raises(ValueError, match="nfs_extra_clients: host nofacts"):
        nfs_client_addresses(["nofacts"], HOSTVARS)
    with pytest.raises(ValueError, match="neither an inventory host"):
        nfs_client_addresses(["web.example"], HOSTVARS)


def test_wildcards_are_kept_for_preflight_to_refuse():
    assert nfs_client_addresses(["*"], HOSTVARS) == ["*"]
    assert nfs_has_wildcard(["10.0.0.1", "*"])
    assert nfs_has_wildcard(["0.0.0.0/0"])
    assert not nfs_has_wildcard(["10.0.0.0/8"])


def test_share_defaults():
    full = nfs_share_defaults(SHARE, 10001, 10002)
    assert full["mount_point"] == "/srv/nfs/documents"
    assert (full["owner_uid"], full["owner_gid"], full["mode"], full["squash"]) == (10001, 10002, "2770", "root_squash")
    assert nfs_share_defaults({**SHARE, "mount_point": "/srv/docs"}, 1, 1)["mount_point"] == "/srv/docs"
    with pytest.raises(ValueError, match="needs a name and a path"):
        nfs_share_defaults({"name": "x"}, 1, 1)


def test_exports_line_one_entry_per_client():
    line = nfs_exports_line(SHARE, ["10.0.0.11", "10.0.0.12"])
    opts = "rw,sync,root_squash,no_subtree_check,anonuid=65534,anongid=65534"
    assert line == f"/srv/nfs/documents 10.0.0.11({opts}) 10.0.0.12({opts})"


def test_export_options_readonly_squash_and_overrides():
    opts = nfs_export_options({**SHARE, "readonly": True, "squash": "all_squash", "export_options": ["async", "fsid=1"]}, 10001, 10001)
    assert opts == ["ro", "all_squash", "no_subtree_check", "anonuid=10001", "anongid=10001", "async", "fsid=1"]
    with pytest.raises(ValueError, match="squash must be one of"):
        nfs_export_options({**SHARE, "squash": "squash_everything"}, 1, 1)


def test_exports_line_refuses_bad_path_and_no_clients():
    with pytest.raises(ValueError, match="absolute"):
        nfs_exports_line({"name": "x", "path": "srv/x"}, ["10.0.0.1"])
    with pytest.raises(ValueError, match="no allowed clients"):
        nfs_exports_line(SHARE, [])


def test_mount_options():
    base = ["nfsvers=4.2", "hard", "_netdev"]
    assert nfs_mount_options(base) == "nfsvers=4.2,hard,_netdev"
    assert nfs_mount_options(base + ["hard"], automount=True, idle_timeout=60) == \
        "nfsvers=4.2,hard,_netdev,x-systemd.automount,x-systemd.idle-timeout=60"
