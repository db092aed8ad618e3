"""``python -m erank_studio agreement [--source S | --query-id ...] [--json]``."""
from __future__ import annotations

import argparse
import json

from .team_args import add_query_selection


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "agreement",
        help="agreement between annotators (kappa, Spearman, Krippendorff's alpha) and with the model",
        description="Per pair of annotators: quadratic-weighted Cohen's kappa and Spearman over the "
        "documents both labelled; over all annotators: Krippendorff's alpha (interval, ordinal) over the "
        "documents two or more labelled; each annotator against the model's score. Each coefficient "
        "comes with the number of documents it rests on; '-' where it is undefined.",
    )
    add_query_selection(parser)
    parser.add_argument("--campaign", metavar="NAME", help="instead: agreement with the model of a campaign's blind "
                        "labels and of labels made with the model in view (as `campaign anchoring`)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import agreement
    from ..store import teams
    from . import UserError
    from .common import open_store

    store = open_store(args.db, read_only=True)
    if args.campaign is not None:
        return _anchoring(store, args)
    try:
        chosen = teams.items(store, source=args.source, qids=args.query_id)
    except ValueError as error:
        raise UserError(str(error)) from None
    finally:
        store.close()
    result = agreement.report(*teams.ratings(chosen))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{result['items']} labelled documents, {len(result['annotators'])} annotators: "
              f"{', '.join(result['annotators']) or 'none'}")
        print(agreement.format_table(result))
    return 0


def _anchoring(store, args: argparse.Namespace) -> int:
    from ..store.campaigns import CampaignError, anchoring
    from . import UserError

    try:
        result = anchoring.report(store, args.campaign)
    except CampaignError as error:
        raise UserError(str(error)) from None
    finally:
        store.close()
    print(json.dumps(result, indent=1) if args.json else anchoring.format_report(result))
    return 0
