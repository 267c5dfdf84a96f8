"""Unit tests of the registry config check used as the template's validator
(roles/registry/files/registry_config_check.py)."""
import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("registry_config_check", ROOT / "roles" / "registry" / "files" / "registry_config_check.py")
check = importlib.util.module_from_spec(_spec)
sys.modules["registry_config_check"] = check
_spec.loader.exec_module(check)


@pytest.fixture
def config(tmp_path):
    for name in ("registry.crt", "registry.key", "htpasswd"):
        (tmp_path / name).write_text("x\n")
    return {
        "version": 0.1,
        "storage": {"filesystem": {"rootdirectory": "/var/lib/docker-registry"}, "delete": {"enabled": True},
                    "cache": {"blobdescriptor": "inmemory"}},
        "http": {
            "addr": "10.0.0.7:5000",
            "tls": {"certificate": str(tmp_path / "registry.crt"), "key": str(tmp_path / "registry.key")},
            "debug": {"addr": "10.0.0.7:5001", "prometheus": {"enabled": True, "path": "/metrics"}},
        },
        "auth": {"htpasswd": {"realm": "Registry", "path": str(tmp_path / "htpasswd")}},
    }


def test_the_roles_config_passes(config):
    assert check.check_config(config) == []


def test_the_template_renders_a_config_that_passes(config, tmp_path):
    # The role's template with its defaults, rendered as Ansible would (the two host-specific values set).
    jinja2 = pytest.importorskip("jinja2")
    text = (ROOT / "roles" / "registry" / "templates" / "config.yml.j2").read_text()
    rendered = jinja2.Template(text.replace("{{ ansible_managed | comment }}", "# managed")).render(
        registry_log_level="info", registry_storage_dir="/var/lib/docker-registry", registry_port=5000,
        registry_metrics_port=5001, registry_tls_minimum_version="tls1.2", registry_auth_realm="Registry",
        __registry_api_host="10.0.0.7", __registry_metrics_host="10.0.0.7",
        __registry_tls_certificate=config["http"]["tls"]["certificate"], __registry_tls_key=config["http"]["tls"]["key"],
        __registry_htpasswd=config["auth"]["htpasswd"]["path"])
    assert check.check_config(yaml.safe_load(rendered)) == []


@pytest.mark.parametrize("addr", ["0.0.0.0:5000", ":5000", "[::]:5000", "registry:5000", "10.0.0.7", "10.0.0.7:0", "10.0.0.7:99999"])
def test_listen_addresses_must_be_one_specific_ip(config, addr):
    config["http"]["addr"] = addr
    assert any(p.startswith("http.addr") for p in check.check_config(config))


def test_ipv6_in_brackets_is_fine(config):
    config["http"]["addr"] = "[fd00::7]:5000"
    assert check.check_config(config) == []


@pytest.mark.parametrize("mutate, expected", [
    (lambda c: c.update(version="0.2"), "version must be 0.1"),
    (lambda c: c["storage"].update(inmemory={}), "exactly one driver"),
    (lambda c: c["storage"]["filesystem"].update(rootdirectory="relative"), "rootdirectory must be an absolute path"),
    (lambda c: c["storage"].pop("delete"), "storage.delete.enabled must be true"),
    (lambda c: c["http"]["tls"].update(key="/nonexistent/registry.key"), "http.tls.key /nonexistent/registry.key does not exist"),
    (lambda c: c["http"].pop("tls"), "http.tls.certificate must be an absolute path"),
    (lambda c: c.update(auth={"silly": {}}), "auth must be htpasswd only"),
    (lambda c: c["auth"]["htpasswd"].update(path="/nonexistent/htpasswd"), "auth.htpasswd.path /nonexistent/htpasswd does not exist"),
    (lambda c: c["http"]["debug"].update(addr="0.0.0.0:5001"), "http.debug.addr must name the host's private address"),
    (lambda c: c["http"]["debug"]["prometheus"].update(enabled=False), "prometheus.enabled must be true"),
    (lambda c: c["http"]["debug"]["prometheus"].update(path="metrics"), "prometheus.path must start with '/'"),
])
def test_what_the_role_relies_on_is_checked(config, mutate, expected):
    mutate(config)
    assert any(expected in p for p in check.check_config(config)), check.check_config(config)


def test_not_a_mapping():
    assert check.check_config(["a"]) == ["the config is not a YAML mapping"]


def fake_registry(tmp_path: Path, body: str) -> str:
    binary = tmp_path / "docker-registry"
    binary.write_text("#!/bin/sh\n" + body)
    binary.chmod(0o755)
    return str(binary)


def test_the_registry_parser_runs_on_an_empty_scratch_store(tmp_path, config):
    # The fake registry succeeds only when pointed at an empty scratch store laid out like a real one.
    binary = fake_registry(tmp_path, 'test "$1 $2" = "garbage-collect --dry-run" || exit 3\n'
                                     'd="$REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"\n'
                                     'test -d "$d/docker/registry/v2/repositories" && test -d "$d/docker/registry/v2/blobs" || exit 4\n'
                                     'test "$(ls -A "$d/docker/registry/v2/blobs")" = "" || exit 5\n')
    conf = tmp_path / "config.yml"
    conf.write_text(yaml.safe_dump(config))
    assert check.registry_parse(binary, str(conf)) == []
    assert check.main([str(conf), "--binary", binary]) == 0


def test_a_config_the_registry_rejects_fails(tmp_path, config, capsys):
    binary = fake_registry(tmp_path, 'echo "configuration error: invalid loglevel loud"; exit 1\n')
    conf = tmp_path / "config.yml"
    conf.write_text(yaml.safe_dump(config))
    assert check.main([str(conf), "--binary", binary]) == 1
    assert "rejects the config: configuration error: invalid loglevel loud" in capsys.readouterr().err


def test_broken_yaml_fails_before_the_registry_runs(tmp_path, capsys):
    conf = tmp_path / "config.yml"
    conf.write_text("http: [unclosed\n")
    binary = fake_registry(tmp_path, "exit 0\n")
    assert check.main([str(conf), "--binary", binary]) == 1
    assert capsys.readouterr().err
