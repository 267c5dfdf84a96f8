#!/usr/bin/python3
"""Check an NFS server config before it is installed (used as the template's `validate:`).

NFS-Ganesha has no config test mode (`ganesha.nfsd -T` ignores the file), and exportfs cannot
check a file that is not installed yet, so this parses the grammar and checks what the role
relies on:

  ganesha: balanced blocks, `key = value;` statements, known block names, every EXPORT has a
           unique Export_Id, an absolute existing Path, a unique absolute Pseudo, an FSAL with a
           Name, and CLIENT blocks with a non-empty Clients list without wildcards.
  exports: `<abs path> <client>(<options>) ...` lines, known options, no wildcard clients.

Wildcards are accepted only with --allow-any (nfs_allow_any_client). Exit 0 when fine, 1 with
one line per problem on stderr otherwise.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field

GANESHA_BLOCKS = {
    "EXPORT", "EXPORT_DEFAULTS", "CLIENT", "FSAL", "NFS_CORE_PARAM", "NFSV4", "NFS_KRB5", "LOG", "COMPONENTS",
    "FORMAT", "FACILITY", "MDCACHE", "CACHEINODE", "NFS_IP_NAME", "_9P", "RGW", "CEPH", "RADOS_KV", "RADOS_URLS",
    "PROXY", "REMOTE_SERVER", "GPFS", "XFS", "VFS", "PSEUDO", "NULL", "MEM", "DIRECTORY_SERVICES",
}
WILDCARDS = {"*", "0.0.0.0/0", "::/0"}
EXPORT_OPTIONS = {
    "rw", "ro", "sync", "async", "root_squash", "no_root_squash", "all_squash", "no_all_squash", "subtree_check",
    "no_subtree_check", "secure", "insecure", "wdelay", "no_wdelay", "hide", "nohide", "crossmnt", "no_acl",
    "anonuid", "anongid", "fsid", "sec", "mountpoint", "mp", "refer", "replicas", "pnfs", "no_pnfs",
    "security_label", "secure_locks", "insecure_locks", "auth_nlm", "no_auth_nlm",
}
TOKEN = re.compile(r'\s*(?:(#[^\n]*)|("(?:[^"\\]|\\.)*")|([{};=,])|([^\s{};=,#"]+))')


@dataclass
class Block:
    name: str
    line: int
    params: dict[str, list[str]] = field(default_factory=dict)
    blocks: list["Block"] = field(default_factory=list)


def tokenize(text: str) -> list[tuple[str, int]]:
    """Tokens with their line numbers; comments dropped, quotes kept verbatim."""
    tokens: list[tuple[str, int]] = []
    pos = 0
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            if text[pos:].strip() == "":
                break
            raise SyntaxError(f"line {text.count(chr(10), 0, pos) + 1}: unexpected character {text[pos]!r}")
        line = text.count("\n", 0, match.start(match.lastindex or 0)) + 1
        if match.group(2) or match.group(3) or match.group(4):
            tokens.append((match.group(2) or match.group(3) or match.group(4), line))
        pos = match.end()
    return tokens


def parse_ganesha(text: str) -> list[Block]:
    """Parse blocks `NAME { key = v1, v2; NAME { ... } }` into a tree; SyntaxError when malformed."""
    tokens = tokenize(text)
    root = Block("<root>", 0)
    stack = [root]
    i = 0
    while i < len(tokens):
        tok, line = tokens[i]
        if tok == "}":
            if len(stack) == 1:
                raise SyntaxError(f"line {line}: '}}' without an open block")
            stack.pop()
            i += 1
            continue
        nxt = tokens[i + 1][0] if i + 1 < len(tokens) else None
        if nxt == "{":
            block = Block(tok, line)
            stack[-1].blocks.append(block)
            stack.append(block)
            i += 2
            continue
        if nxt == "=":
            if len(stack) == 1:
                raise SyntaxError(f"line {line}: parameter {tok} outside of a block")
            values: list[str] = []
            j = i + 2
            expect_value = True
            while j < len(tokens) and tokens[j][0] != ";":
                value = tokens[j][0]
                if value in "{}=":
                    raise SyntaxError(f"line {tokens[j][1]}: parameter {tok} not terminated by ';'")
                if value == ",":
                    if expect_value:
                        raise SyntaxError(f"line {tokens[j][1]}: empty value in {tok}")
                    expect_value = True
                else:
                    if not expect_value:
                        raise SyntaxError(f"line {tokens[j][1]}: missing ',' in {tok}")
                    values.append(value.strip('"'))
                    expect_value = False
                j += 1
            if j >= len(tokens):
                raise SyntaxError(f"line {line}: parameter {tok} not terminated by ';'")
            if not values:
                raise SyntaxError(f"line {line}: parameter {tok} has no value")
            stack[-1].params[tok.lower()] = values
            i = j + 1
            continue
        raise SyntaxError(f"line {line}: expected '{{' or '=' after {tok!r}")
    if len(stack) > 1:
        raise SyntaxError(f"line {stack[-1].line}: block {stack[-1].name} is not closed")
    return root.blocks


def check_ganesha(text: str, allow_any: bool = False, check_paths: bool = True) -> list[str]:
    """Problems found in a ganesha config (empty list: fine)."""
    try:
        blocks = parse_ganesha(text)
    except SyntaxError as exc:
        return [f"syntax: {exc}"]
    problems: list[str] = []

    def walk(items: list[Block]) -> None:
        for block in items:
            if block.name.upper() not in GANESHA_BLOCKS:
                problems.append(f"line {block.line}: unknown block {block.name}")
            walk(block.blocks)

    walk(blocks)
    ids: set[str] = set()
    pseudos: set[str] = set()
    for export in (b for b in blocks if b.name.upper() == "EXPORT"):
        where = f"EXPORT at line {export.line}"
        export_id = export.params.get("export_id", [""])[0]
        if not export_id.isdigit() or export_id in ids:
            problems.append(f"{where}: Export_Id missing, not a number or not unique ({export_id!r})")
        ids.add(export_id)
        path = export.params.get("path", [""])[0]
        if not path.startswith("/"):
            problems.append(f"{where}: Path must be absolute ({path!r})")
        elif check_paths and not os.path.isdir(path):
            problems.append(f"{where}: Path {path} is not an existing directory")
        pseudo = export.params.get("pseudo", [""])[0]
        if not pseudo.startswith("/") or pseudo in pseudos:
            problems.append(f"{where}: Pseudo missing, relative or not unique ({pseudo!r})")
        pseudos.add(pseudo)
        fsal = [b for b in export.blocks if b.name.upper() == "FSAL"]
        if len(fsal) != 1 or not fsal[0].params.get("name"):
            problems.append(f"{where}: needs exactly one FSAL block with a Name")
        for client in (b for b in export.blocks if b.name.upper() == "CLIENT"):
            clients = client.params.get("clients", [])
            if not clients:
                problems.append(f"{where}: CLIENT at line {client.line} has no Clients")
            if not allow_any and WILDCARDS.intersection(clients):
                problems.append(f"{where}: CLIENT at line {client.line} admits everyone ({', '.join(clients)}); set nfs_allow_any_client if meant")
        if not allow_any and "clients" in export.params and WILDCARDS.intersection(export.params["clients"]):
            problems.append(f"{where}: Clients admits everyone; set nfs_allow_any_client if meant")
    return problems


def check_exports(text: str, allow_any: bool = False) -> list[str]:
    """Problems found in an /etc/exports(.d) file (empty list: fine)."""
    problems: list[str] = []
    entry = re.compile(r"^(?P<client>[^\s()]+)\((?P<opts>[^()\s]*)\)$")
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        path, *clients = line.split()
        if not path.startswith("/"):
            problems.append(f"line {number}: export path must be absolute ({path!r})")
        if not clients:
            problems.append(f"line {number}: {path} has no client")
        for item in clients:
            match = entry.match(item)
            if not match:
                problems.append(f"line {number}: malformed client entry {item!r} (want client(options))")
                continue
            if not allow_any and match["client"] in WILDCARDS:
                problems.append(f"line {number}: {path} is exported to everyone; set nfs_allow_any_client if meant")
            for opt in filter(None, match["opts"].split(",")):
                if opt.split("=", 1)[0] not in EXPORT_OPTIONS:
                    problems.append(f"line {number}: unknown export option {opt!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["ganesha", "exports"])
    parser.add_argument("path")
    parser.add_argument("--allow-any", action="store_true", help="accept wildcard clients")
    args = parser.parse_args(argv)
    with open(args.path, encoding="utf-8") as handle:
        text = handle.read()
    problems = check_ganesha(text, args.allow_any) if args.kind == "ganesha" else check_exports(text, args.allow_any)
    for problem in problems:
        print(f"{args.path}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
