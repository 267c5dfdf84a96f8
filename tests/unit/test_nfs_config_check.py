"""Unit tests of the NFS config check used as the template validator (roles/nfs/files/nfs_config_check.py)."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("nfs_config_check", ROOT / "roles" / "nfs" / "files" / "nfs_config_check.py")
check = importlib.util.module_from_spec(_spec)
sys.modules["nfs_config_check"] = check  # dataclasses look their module up here
_spec.loader.exec_module(check)

GOOD = """
# comment
NFS_CORE_PARAM { Protocols = 4; Bind_Addr = 10.0.0.2; }
NFSV4 { Graceless = false; }
EXPORT {
    Export_Id = 1;
    Path = "{path}";
    Pseudo = "/documents";
    Squash = Root_Squash;
    Access_Type = None;
    FSAL { Name = VFS; }
    CLIENT { Clients = 10.0.0.11, 10.0.0.12; Access_Type = RW; }
}
"""


def good(tmp_path: Path) -> str:
    return GOOD.replace("{path}", str(tmp_path))


def test_good_config_passes(tmp_path):
    assert check.check_ganesha(good(tmp_path)) == []


def test_parse_tree(tmp_path):
    blocks = check.parse_ganesha(good(tmp_path))
    export = [b for b in blocks if b.name == "EXPORT"][0]
    client = [b for b in export.blocks if b.name == "CLIENT"][0]
    assert client.params["clients"] == ["10.0.0.11", "10.0.0.12"]
    assert export.params["path"] == [str(tmp_path)]


def test_syntax_errors(tmp_path):
    text = good(tmp_path)
    assert check.check_ganesha(text.replace("Access_Type = RW;", "Access_Type = RW"))[0].startswith("syntax")
    assert check.check_ganesha(text.rstrip()[:-1])[0].startswith("syntax")  # unclosed block
    assert check.check_ganesha(text + "}")[0].startswith("syntax")
    assert check.check_ganesha(text.replace("10.0.0.11, 10.0.0.12", "10.0.0.11 10.0.0.12"))[0].startswith("syntax")


def test_semantic_errors(tmp_path):
    text = good(tmp_path)
    assert any("Path" in p for p in check.check_ganesha(text.replace(str(tmp_path), str(tmp_path / "missing"))))
    assert any("unknown block" in p for p in check.check_ganesha(text.replace("NFSV4 {", "NFSV5 {")))
    assert any("FSAL" in p for p in check.check_ganesha(text.replace("FSAL { Name = VFS; }", "")))
    twice = text + text.replace('"/documents"', '"/other"')
    assert any("Export_Id" in p for p in check.check_ganesha(twice))


def test_wildcard_only_with_allow_any(tmp_path):
    text = good(tmp_path).replace("10.0.0.11, 10.0.0.12", "*")
    assert any("everyone" in p for p in check.check_ganesha(text))
    assert check.check_ganesha(text, allow_any=True) == []


def test_exports_file():
    line = "/srv/nfs/documents 10.0.0.11(rw,sync,root_squash,no_subtree_check,anonuid=65534) 10.0.0.12(rw,sync)\n"
    assert check.check_exports("# managed\n" + line) == []
    assert any("everyone" in p for p in check.check_exports("/srv/x *(rw,sync)\n"))
    assert check.check_exports("/srv/x *(rw,sync)\n", allow_any=True) == []
    assert any("unknown export option" in p for p in check.check_exports("/srv/x 10.0.0.1(rw,turbo)\n"))
    assert any("malformed" in p for p in check.check_exports("/srv/x 10.0.0.1 (rw)\n"))
    assert any("absolute" in p for p in check.check_exports("srv/x 10.0.0.1(rw)\n"))


def test_main_exit_codes(tmp_path):
    conf = tmp_path / "ganesha.conf"
    conf.write_text(good(tmp_path))
    assert check.main(["ganesha", str(conf)]) == 0
    conf.write_text("EXPORT {")
    assert check.main(["ganesha", str(conf)]) == 1
