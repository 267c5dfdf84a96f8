from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from docshare.manage import main
from docshare.static_assets import SOURCE_DIR, AssetResolver, build_static, hashed_name, load_manifest


def test_hashed_name_uses_first_eight_hex_of_sha256() -> None:
    digest = hashlib.sha256(b"body{}").hexdigest()[:8]
    assert hashed_name("app.css", b"body{}") == f"app.{digest}.css"
    assert hashed_name("css/site.min.css", b"body{}") == f"css/site.min.{digest}.css"
    assert hashed_name("LICENSE", b"body{}") == f"LICENSE.{digest}"


def test_hash_changes_with_content() -> None:
    assert hashed_name("app.js", b"a") != hashed_name("app.js", b"b")


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "img").mkdir(parents=True)
    (root / "app.css").write_text("body { color: red }")
    (root / "app.js").write_text("console.log(1)")
    (root / "img" / "logo.svg").write_text("<svg/>")
    (root / ".hidden").write_text("skip me")
    return root


def test_build_static_writes_hashed_files_and_manifest(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    manifest = build_static(src, out)
    assert set(manifest) == {"app.css", "app.js", "img/logo.svg"}
    assert json.loads((out / "manifest.json").read_text()) == manifest
    for logical, hashed in manifest.items():
        assert (out / hashed).read_bytes() == (src / logical).read_bytes()
        assert hashed != logical
    assert not (out / ".hidden").exists()


def test_build_static_is_deterministic_and_idempotent(src: Path, tmp_path: Path) -> None:
    first = build_static(src, tmp_path / "a")
    assert build_static(src, tmp_path / "a") == first
    assert build_static(src, tmp_path / "b") == first


def test_build_static_in_place_does_not_rehash_outputs(src: Path) -> None:
    first = build_static(src, src)
    second = build_static(src, src)
    assert first == second
    assert len(second) == 3


def test_resolver_maps_names_through_manifest(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    manifest = build_static(src, out)
    resolver = AssetResolver(out)
    assert resolver.url("app.css") == "/static/" + manifest["app.css"]
    assert resolver.is_immutable(manifest["app.css"])
    assert not resolver.is_immutable("app.css")
    assert resolver.url("unknown.png") == "/static/unknown.png"


def test_missing_or_corrupt_manifest_is_empty(tmp_path: Path) -> None:
    assert load_manifest(tmp_path) == {}
    (tmp_path / "manifest.json").write_text("not json")
    assert load_manifest(tmp_path) == {}


def test_build_static_command_on_shipped_assets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build-static", "--out", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"app.css", "app.js"} <= set(summary["manifest"])
    assert (tmp_path / summary["manifest"]["app.css"]).is_file()
    assert SOURCE_DIR.joinpath("app.css").is_file()
