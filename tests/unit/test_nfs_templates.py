"""Render the nfs role's server templates with its filters and check them with the role's validator.

The kernel backend cannot run on the lab kernel; this is where its exports file is exercised.
"""
import importlib.util
import sys
from pathlib import Path

import jinja2
import pytest
from ansible.plugins.filter.core import FilterModule as CoreFilters

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "filter"))
from nfs_exports import FilterModule  # noqa: E402

_spec = importlib.util.spec_from_file_location("nfs_config_check", ROOT / "roles" / "nfs" / "files" / "nfs_config_check.py")
check = importlib.util.module_from_spec(_spec)
sys.modules["nfs_config_check"] = check
_spec.loader.exec_module(check)


def render(name: str, **context) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "roles" / "nfs" / "templates"), undefined=jinja2.StrictUndefined,
                             trim_blocks=True)
    env.filters.update(FilterModule().filters())
    env.filters["comment"] = lambda text: "#\n# " + text + "\n#"
    # Ansible's own `bool` filter ("false", "no", "0" are False; Python's bool("false") is True).
    env.filters["bool"] = CoreFilters().filters()["bool"]
    return env.get_template(name).render(ansible_managed="Ansible managed", **context)


@pytest.fixture
def shares(tmp_path):
    return [
        {"name": "documents", "path": str(tmp_path), "readonly": False, "squash": "root_squash", "export_options": []},
        {"name": "archive", "path": str(tmp_path), "readonly": True, "squash": "all_squash", "export_options": ["fsid=7"]},
    ]


def test_kernel_exports_render_and_validate(shares):
    text = render("bundle.exports.j2", __nfs_shares=shares, __nfs_export_clients=["10.0.0.11", "10.0.0.12"])
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(lines) == 2
    assert "10.0.0.11(rw,sync,root_squash,no_subtree_check" in lines[0]
    assert "10.0.0.12(ro,sync,all_squash,no_subtree_check,anonuid=65534,anongid=65534,fsid=7)" in lines[1]
    assert check.check_exports(text) == []


def test_ganesha_conf_renders_and_validates(shares):
    text = render("ganesha.conf.j2", __nfs_shares=shares[:1] + [{**shares[1], "path": shares[0]["path"]}],
                  __nfs_export_clients=["10.0.0.11", "10.0.0.12"], __nfs_server_address="10.0.0.2",
                  nfs_protocols=[4], nfs_ganesha_graceless=False)
    assert check.check_ganesha(text) == []
    assert "Clients = 10.0.0.11, 10.0.0.12;" in text and "Access_Type = RO;" in text and "Squash = All_Squash;" in text


def test_ganesha_conf_open_export_needs_allow_any(shares):
    text = render("ganesha.conf.j2", __nfs_shares=shares[:1], __nfs_export_clients=["*"], __nfs_server_address="10.0.0.2",
                  nfs_protocols=[4], nfs_ganesha_graceless=True)
    assert check.check_ganesha(text) != []
    assert check.check_ganesha(text, allow_any=True) == []


def test_templates_read_string_flags_as_ansible_does(shares):
    """Inventory often holds "false" as a string: the template must treat it as false, like Ansible."""
    text = render("ganesha.conf.j2", __nfs_shares=shares[:1], __nfs_export_clients=["10.0.0.11"], __nfs_server_address="10.0.0.2",
                  nfs_protocols=[4], nfs_ganesha_graceless="false")
    assert text == render("ganesha.conf.j2", __nfs_shares=shares[:1], __nfs_export_clients=["10.0.0.11"],
                          __nfs_server_address="10.0.0.2", nfs_protocols=[4], nfs_ganesha_graceless=False)
    assert text != render("ganesha.conf.j2", __nfs_shares=shares[:1], __nfs_export_clients=["10.0.0.11"],
                          __nfs_server_address="10.0.0.2", nfs_protocols=[4], nfs_ganesha_graceless="true")
