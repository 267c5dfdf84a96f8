from __future__ import annotations

import io
from pathlib import Path

import pytest

from docshare.storage import (
    FileStore,
    StorageFull,
    display_name,
    generate_stored_name,
    is_stored_name,
    safe_extension,
)


@pytest.mark.parametrize(
    ("client_name", "ext"),
    [
        ("report.PDF", "pdf"),
        ("archive.tar.gz", "gz"),
        ("../../etc/passwd", ""),
        ("..\\..\\windows\\win.ini", "ini"),
        ("noext", ""),
        (".bashrc", ""),
        ("evil.ph p", ""),
        ("x.verylongextension", ""),
        ("name.", ""),
        ("unicode.pdf\u202e", ""),
        ("", ""),
    ],
)
def test_safe_extension(client_name: str, ext: str) -> None:
    assert safe_extension(client_name) == ext


@pytest.mark.parametrize("client_name", ["../../etc/passwd", "/abs/path.txt", "a/b\\c.pdf", "\x00.txt", "x" * 500])
def test_generated_names_never_contain_client_paths(client_name: str) -> None:
    name = generate_stored_name(client_name)
    assert is_stored_name(name)
    assert "/" not in name and "\\" not in name and ".." not in name


def test_generated_names_are_unique() -> None:
    assert len({generate_stored_name("a.txt") for _ in range(1000)}) == 1000


def test_is_stored_name() -> None:
    assert is_stored_name("0123456789abcdef0123456789abcdef.pdf")
    assert is_stored_name("0123456789abcdef0123456789abcdef")
    assert not is_stored_name("../0123456789abcdef0123456789abcdef")
    assert not is_stored_name(".upload-0123456789abcdef0123456789abcdef.part")
    assert not is_stored_name("lost+found")


def test_display_name_strips_paths_and_control_characters() -> None:
    assert display_name("C:\\Users\\me\\report.pdf") == "report.pdf"
    assert display_name("../../secret.txt") == "secret.txt"
    assert display_name("a\x00b\nc.txt") == "abc.txt"
    assert display_name("") == "document"
    assert display_name("...") == "document"
    long = display_name("y" * 300 + ".pdf")
    assert len(long) == 200 and long.endswith(".pdf")


def test_file_store_round_trip(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    saved = store.save(io.BytesIO(b"hello"), "../greeting.TXT")
    assert saved.size == 5
    assert saved.stored_name.endswith(".txt")
    assert store.path(saved.stored_name).parent == tmp_path
    assert store.path(saved.stored_name).read_bytes() == b"hello"
    assert store.exists(saved.stored_name)
    assert [e.name for e in store.list_files()] == [saved.stored_name]
    assert store.delete(saved.stored_name)
    assert not store.delete(saved.stored_name)
    assert store.list_files() == []


def test_file_store_rejects_foreign_names(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    with pytest.raises(ValueError):
        store.path("../etc/passwd")
    with pytest.raises(ValueError):
        store.delete_raw("../x.part")


def test_file_store_refuses_when_disk_is_low(tmp_path: Path) -> None:
    store = FileStore(tmp_path, min_free_bytes=10**18)
    with pytest.raises(StorageFull):
        store.save(io.BytesIO(b"x"), "a.txt")
    assert list(tmp_path.iterdir()) == []


def test_failed_save_leaves_no_partial_file(tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        def read(self, n: int = -1) -> bytes:
            raise OSError("client went away")

    with pytest.raises(OSError):
        FileStore(tmp_path).save(Broken(), "a.txt")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_probe_writable(tmp_path: Path) -> None:
    FileStore(tmp_path).probe_writable()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OSError):
        FileStore(tmp_path / "missing").probe_writable()


def test_quarantine_moves_instead_of_deleting(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    saved = store.save(io.BytesIO(b"kept aside"), "a.txt")
    partial = tmp_path / (".upload-" + "e" * 32 + ".part")
    partial.write_bytes(b"half")
    folder = tmp_path / ".quarantine" / "2026-12-01"
    assert store.quarantine(saved.stored_name, folder)
    assert store.quarantine(partial.name, folder)
    assert not store.quarantine(saved.stored_name, folder)  # already moved
    assert (folder / saved.stored_name).read_bytes() == b"kept aside"
    assert sorted(p.name for p in folder.iterdir()) == sorted([saved.stored_name, partial.name])
    assert store.list_files() == []  # the quarantine folder is no document
    with pytest.raises(ValueError):
        store.quarantine("../etc/passwd", folder)
