"""``python -m erank_studio roles grant|revoke NAME`` and ``roles list``: who is an adjudicator."""
from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "roles", help="grant, revoke or list the adjudicator role",
        description="Adjudicators set the final label where annotators disagree. The role lives in the "
        "store, so the app and the CLI agree on it; whoever can write the store can grant it.",
    )
    parser.add_argument("action", choices=("grant", "revoke", "list"))
    parser.add_argument("name", nargs="?", default=None, help="the person (their annotator name)")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: $ERANK_DB_URL or db/erank_studio.sqlite)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..store import teams
    from . import UserError
    from .common import open_store

    if args.action != "list" and not (args.name or "").strip():
        raise UserError(f"roles {args.action} needs a name")
    store = open_store(args.db, read_only=args.action == "list", must_exist=args.action == "revoke")
    try:
        if args.action == "list":
            holders = teams.role_holders(store)
            if not holders:  # on stderr: stdout stays one name a line for scripts
                print("no adjudicators yet (python -m erank_studio roles grant NAME)", file=sys.stderr)
            for name in holders:
                print(name)
        elif args.action == "grant":
            done = teams.grant_role(store, args.name)
            print(f"{args.name.strip()} {'is now' if done else 'was already'} an adjudicator")
        else:
            done = teams.revoke_role(store, args.name)
            print(f"{args.name.strip()} {'is no longer' if done else 'was not'} an adjudicator")
    except ValueError as error:
        raise UserError(str(error)) from None
    finally:
        store.close()
    return 0
