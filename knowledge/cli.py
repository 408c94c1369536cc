"""Staff command line: `python -m knowledge list | show | add | edit | remove | history |
rollback | quarantine | approve | search`. Every write is recorded in the audit log as
`staff:<author>`; a refused request prints why and exits with status 1.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from knowledge.errors import KnowledgeError
from knowledge.records import VersionInfo
from knowledge.seed import ensure_ingested
from knowledge.store import PolicyStore


def _default_author() -> str:
    return os.environ.get("KNOWLEDGE_AUTHOR") or getpass.getuser() or "staff"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m knowledge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="documents and their current versions")
    listing.add_argument("--all", action="store_true", help="include removed documents")
    show = commands.add_parser("show", help="a document's text (the served version by default)")
    show.add_argument("doc")
    show.add_argument("--version", type=int)
    commands.add_parser("history", help="every version of a document").add_argument("doc")
    commands.add_parser("quarantine", help="versions waiting for a staff decision")
    search = commands.add_parser("search", help="what the assistant would retrieve")
    search.add_argument("question")
    search.add_argument("-k", type=int, default=3)
    search.add_argument("--category")
    writes = {
        "add": ("publish a new document from FILE", ["file"]),
        "edit": ("publish FILE as the next version of DOC", ["doc", "file"]),
        "remove": ("stop serving DOC (recorded as a version)", ["doc"]),
        "rollback": ("publish an earlier VERSION of DOC again", ["doc", "version"]),
        "approve": ("publish a quarantined VERSION of DOC you have read", ["doc", "version"]),
    }
    for name, (help_text, arguments) in writes.items():
        command = commands.add_parser(name, help=help_text)
        for argument in arguments:
            command.add_argument(argument, type=int if argument == "version" else str)
        command.add_argument("--author", default=_default_author())
    return parser


def _print_version(info: VersionInfo) -> None:
    marker = "*" if info.current else " "
    print(
        f"v{info.version}{marker} {info.created_at:%Y-%m-%d %H:%M} {info.action:<8} "
        f"{info.status:<11} {info.author:<12} {info.diff_summary}"
    )
    for reason in info.quarantine_reasons:
        print(f"      quarantine reason: {reason}")


def _write(store: PolicyStore, args: argparse.Namespace) -> VersionInfo:
    match args.command:
        case "add":
            return store.add(Path(args.file), author=args.author)
        case "edit":
            return store.edit(args.doc, Path(args.file), author=args.author)
        case "remove":
            return store.remove(args.doc, author=args.author)
        case "rollback":
            return store.rollback(args.doc, args.version, author=args.author)
        case _:
            return store.approve_quarantined(args.doc, args.version, author=args.author)


def _read(store: PolicyStore, args: argparse.Namespace) -> None:
    match args.command:
        case "list":
            for doc in store.list_documents(include_removed=args.all):
                served = f"v{doc.current_version}" if doc.current_version else "-"
                print(
                    f"{doc.doc_id:<32} {served:>4} {doc.state:<11} {doc.category:<9} "
                    f"{doc.effective_date} {doc.title}"
                )
        case "show":
            info = store.show(args.doc, args.version)
            print(
                f"# {info.title} (v{info.version}, {info.status}, effective "
                f"{info.effective_date}, category {info.category})\n"
            )
            print(info.body or "(no text: this version removed the document)")
        case "history":
            for info in store.history(args.doc):
                _print_version(info)
        case "quarantine":
            held = store.quarantined()
            for info in held:
                print(f"{info.doc_id} v{info.version} from {info.source} by {info.author}")
                for reason in info.quarantine_reasons:
                    print(f"    {reason}")
            print(f"{len(held)} version(s) in quarantine")
        case "search":
            filters = {"category": args.category} if args.category else None
            passages = store.search(args.question, k=args.k, filters=filters)
            for passage in passages:
                print(f"[{passage.score:.3f}] {passage.citation}")
                print("    " + passage.text.replace("\n", "\n    "))
            if not passages:
                print("no passage is relevant enough: the assistant would say it does not know")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        store = ensure_ingested()
        if args.command in {"add", "edit", "remove", "rollback", "approve"}:
            info = _write(store, args)
            print(f"{info.doc_id} v{info.version}: {info.status} ({info.diff_summary})")
            for reason in info.quarantine_reasons:
                print(f"    quarantined: {reason}")
        else:
            _read(store, args)
    except KnowledgeError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    return 0
