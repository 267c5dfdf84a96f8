"""nginx scenario: everything is checked from nginx-client over the scenario network.

The proxy serves HTTPS with a self-signed certificate (curl -k); upstreams nginx-up1/nginx-up2
run the stub application of files/stub_upstream.py under systemd.
"""
from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

import pytest
import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
SCENARIO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SCENARIO.parent / "_shared"))

from playbook import run_playbook  # noqa: E402  (molecule/_shared/playbook.py)

PROXY = "https://nginx-proxy"
UPSTREAMS = ("nginx-up1", "nginx-up2")

testinfra_hosts = [f"ansible://nginx-client?ansible_inventory={INVENTORY}"]


def other(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def fetch(client, url: str, extra: str = "", body: bool = True) -> tuple[int, dict[str, str], str]:
    """Status, headers (lower-case names) and body (unless body=False: binary) of one request."""
    marker = "\n--BODY--\n"
    show = "cat /tmp/body" if body else "true"
    out = client.check_output(f"curl -sk --max-time 15 -D - {extra} '{url}' -o /tmp/body; printf '{marker}'; {show}")
    head, _, body = out.partition(marker.strip())
    lines = [line.strip() for line in head.strip().splitlines() if line.strip()]
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        # A repeated header reads as one comma-joined value (as browsers combine them): "DENY, SAMEORIGIN".
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return status, headers, body


def codes(client, url_glob: str, extra: str = "") -> list[int]:
    """Status of each URL of a curl URL glob (one curl, keepalive, sequential)."""
    out = client.check_output(f"curl -sk --max-time 120 -o /dev/null -w '%{{http_code}}\\n' {extra} '{url_glob}'")
    return [int(c) for c in out.split()]


def upstreams_seen(client, n: int = 20) -> set[str]:
    """Hosts that answered n uncacheable GETs (a failed request adds nothing)."""
    out = client.run(f"curl -sk --max-time 60 -D - -o /dev/null '{PROXY}/nocache?i=[1-{n}]'").stdout
    return {line.split(":", 1)[1].strip() for line in out.splitlines() if line.lower().startswith("x-upstream:")}


def wait_all_up(client) -> None:
    """After a test stopped upstreams: wait until both answer through the proxy again."""
    for _ in range(30):
        if upstreams_seen(client, 6) == set(UPSTREAMS):
            return
        time.sleep(1)
    pytest.fail("upstreams did not come back")


def unique(path: str) -> str:
    return f"{PROXY}{path}-{uuid.uuid4().hex[:8]}"


def test_second_identical_get_is_a_cache_hit(host):
    url = unique("/page")
    assert fetch(host, url)[1]["x-cache-status"] == "MISS"
    status, headers, _ = fetch(host, url)
    assert status == 200
    assert headers["x-cache-status"] == "HIT"


def test_session_cookie_and_authorization_are_never_cached(host):
    url = unique("/account")
    for _ in range(2):
        assert fetch(host, url, "-H 'Cookie: theme=dark; sessionid=abc123'")[1]["x-cache-status"] == "BYPASS"
    for _ in range(2):
        assert fetch(host, url, "-H 'Authorization: Bearer t0ken'")[1]["x-cache-status"] == "BYPASS"
    # Nothing of the logged-in responses was stored: the first anonymous request is a miss.
    assert fetch(host, url)[1]["x-cache-status"] == "MISS"


def test_non_cacheable_responses_are_not_cached(host):
    for path in ("/nocache", "/private"):
        fetch(host, PROXY + path)
        assert fetch(host, PROXY + path)[1]["x-cache-status"] != "HIT"


def test_cache_bypass_header_is_ignored_from_outside(host):
    url = unique("/bypass")
    fetch(host, url)
    assert fetch(host, url, "-H 'X-Cache-Bypass: 1'")[1]["x-cache-status"] == "HIT"


def test_requests_are_spread_over_both_upstreams(host):
    assert upstreams_seen(host) == set(UPSTREAMS)


def test_one_upstream_stopped_loses_no_request(host):
    up1 = other("nginx-up1")
    up1.check_output("systemctl stop stub-upstream")
    try:
        results = codes(host, f"{PROXY}/nocache?i=[1-200]")
        assert len(results) == 200
        assert [c for c in results if c != 200] == []
        assert upstreams_seen(host, 10) == {"nginx-up2"}
    finally:
        up1.check_output("systemctl start stub-upstream")
    wait_all_up(host)


def test_failing_upstream_is_retried_on_the_other(host):
    up1 = other("nginx-up1")
    up1.check_output("echo 503 > /run/stub-upstream/fail")
    try:
        results = codes(host, f"{PROXY}/nocache?i=[1-50]")
        assert [c for c in results if c != 200] == []
    finally:
        up1.check_output("rm -f /run/stub-upstream/fail")
    wait_all_up(host)


def test_cached_page_is_served_stale_with_both_upstreams_stopped(host):
    url = f"{PROXY}/short?v={uuid.uuid4().hex[:8]}"  # the stub sends Cache-Control: max-age=1...
    assert fetch(host, url)[1]["x-cache-status"] == "MISS"
    time.sleep(2)  # ...so the entry is expired and nginx must ask an upstream
    ups = [other(name) for name in UPSTREAMS]
    for up in ups:
        up.check_output("systemctl stop stub-upstream")
    try:
        status, headers, body = fetch(host, url)
        assert status == 200
        assert headers["x-cache-status"] == "STALE"
        assert "host=nginx-up" in body
        # A page never cached has nothing to fall back on.
        assert fetch(host, unique("/never-cached"))[0] == 502
    finally:
        for up in ups:
            up.check_output("systemctl start stub-upstream")
    wait_all_up(host)


def test_rate_limit_answers_429(host):
    results = codes(host, f"{PROXY}/login?i=[1-20]")
    assert results[0] == 200
    assert 429 in results
    # The general limit is far higher: ordinary pages are not limited by this burst.
    assert fetch(host, unique("/after-login"))[0] == 200


def test_security_headers(host):
    # The stub answers /headers with its own X-Frame-Options, X-Content-Type-Options and Referrer-Policy:
    # nginx's replace them (two X-Frame-Options values make a browser ignore the header).
    status, headers, _ = fetch(host, unique("/headers"))
    assert status == 200
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["strict-transport-security"] == "max-age=31536000"
    assert headers["server"] == "nginx"  # server_tokens off: no version


def test_http_redirects_to_https(host):
    status, headers, _ = fetch(host, "http://nginx-proxy/some/page?x=1")
    assert status == 301
    assert headers["location"] == "https://nginx-proxy/some/page?x=1"


def test_gzip_for_text(host):
    _, headers, _ = fetch(host, unique("/gz"), "-H 'Accept-Encoding: gzip'", body=False)
    assert headers.get("content-encoding") == "gzip"
    _, headers, _ = fetch(host, f"{PROXY}/static/site.css", "-H 'Accept-Encoding: gzip'", body=False)
    assert headers.get("content-encoding") == "gzip"
    # Without Accept-Encoding the client gets plain text.
    assert "content-encoding" not in fetch(host, f"{PROXY}/static/site.css")[1]


def test_precompressed_file_is_preferred(host):
    # prepare.yml made precompressed.css.gz with a different text than precompressed.css.
    _, headers, body = fetch(host, f"{PROXY}/static/precompressed.css", "--compressed")
    assert headers.get("content-encoding") == "gzip"
    assert body.strip() == "/* from the .gz file */"


def test_hashed_static_asset_is_immutable(host):
    status, headers, _ = fetch(host, f"{PROXY}/static/app.3f2a9c1b.css")
    assert status == 200
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["x-content-type-options"] == "nosniff"
    status, headers, _ = fetch(host, f"{PROXY}/static/site.css")
    assert status == 200
    assert headers["cache-control"] == "public, max-age=300"


def test_documents_only_through_x_accel_redirect(host):
    assert fetch(host, f"{PROXY}/_protected/documents/report.txt")[0] == 404
    status, headers, body = fetch(host, f"{PROXY}/download/report.txt")
    assert status == 200
    assert body.strip() == "quarterly report"
    assert "no-store" in headers["cache-control"]


def test_maintenance_switch_keeps_health_endpoints(host):
    proxy = other("nginx-proxy")
    proxy.check_output("touch /var/lib/nginx/bundle-maintenance")
    try:
        status, _, body = fetch(host, unique("/during-maintenance"))
        assert status == 503
        assert "Down for maintenance" in body
        assert fetch(host, f"{PROXY}/healthz")[0] == 200
        assert fetch(host, "http://nginx-proxy/nginx-health")[0] == 200
    finally:
        proxy.check_output("rm -f /var/lib/nginx/bundle-maintenance")
    assert fetch(host, unique("/after-maintenance"))[0] == 200


def test_upload_larger_than_the_limit_is_refused(host):
    host.check_output("head -c 21000000 /dev/zero > /tmp/big-upload")  # nginx_client_max_body_size: 20m
    status = host.check_output(f"curl -sk -o /dev/null -w '%{{http_code}}' --data-binary @/tmp/big-upload {PROXY}/submit")
    assert status == "413"
    status = host.check_output(f"curl -sk -o /dev/null -w '%{{http_code}}' --data-binary 'small=1' {PROXY}/submit")
    assert status == "200"


def test_exporter_reports_nginx_up(host):
    metrics = host.check_output("curl -s --max-time 10 http://nginx-proxy:9113/metrics")
    assert "nginx_up 1" in metrics.splitlines()


def test_stub_status_is_private(host):
    assert host.run("curl -s --max-time 5 http://nginx-proxy:8081/stub_status").rc != 0


def test_bad_size_fails_in_preflight_naming_the_variable():
    result = run_playbook(SCENARIO / "broken.yml", {"nginx_cache_max_size": "1 GB"})
    assert result.returncode != 0, result.stdout
    assert "nginx_cache_max_size must be an nginx size" in result.stdout


def test_broken_config_fails_the_play_and_nginx_keeps_serving(host):
    proxy = other("nginx-proxy")
    before = proxy.check_output("sha256sum /etc/nginx/conf.d/bundle.conf")
    result = run_playbook(SCENARIO / "broken.yml", {"nginx_tls_certificate": "/etc/ssl/bundle/missing.crt"})
    assert result.returncode != 0, result.stdout
    assert "missing.crt" in result.stdout  # nginx -t named the bad certificate
    assert proxy.check_output("sha256sum /etc/nginx/conf.d/bundle.conf") == before
    assert fetch(host, unique("/after-broken"))[0] == 200


def test_drain_undrain_cache_generation_and_static_entry_points(host):
    result = run_playbook(SCENARIO / "entrypoints.yml")
    assert result.returncode == 0, result.stdout[-4000:]
    assert upstreams_seen(host) == set(UPSTREAMS)


def test_internal_locations_answer_404_to_the_public(host):
    """/metrics of the app is for the monitor hosts (nginx_internal_networks); the stub upstream would answer it."""
    assert fetch(host, f"{PROXY}/metrics")[0] == 404
    assert fetch(host, f"{PROXY}/metrics/anything")[0] == 404
