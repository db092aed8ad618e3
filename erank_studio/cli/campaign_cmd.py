"""``campaign``: labelling campaigns from a script (the same use cases as the app's Label tab and
the campaign API).

    campaign create NAME (--run ID | --dataset S [--model M] [--top-k K]) --overlap K
                    [--blind] [--guidelines FILE.md] [--strategy S] [--lease-minutes M]
                    [FILTER: --text T --model-min N --model-max N --disagreement N --status S
                     --labelled-by me|anyone|nobody --as PERSON]   (only what `records` finds with it)
    campaign next NAME --as PERSON [--json]     (leases the item; {"item": null} when none is left)
    campaign label NAME --as PERSON --item ITEM --score N [--rationale R] [--note T] [--seconds S]
    campaign skip NAME --as PERSON --item ITEM
    campaign keep-trace NAME --as PERSON --item ITEM   (a blind label keeps the revealed trace for SFT)
    campaign guidelines NAME [--set FILE.md]    (print them, or store a new version)
    campaign status NAME [--json]               (done, leased, left; labels/hour; median seconds)
    campaign anchoring NAME [--json]            (agreement with the model: blind vs model in view)
    campaign records (NAME | --run ID | --dataset S [--model M] [--top-k K]) [--as PERSON] [--text T]
                    [--model-min N] [--model-max N] [--disagreement N] [--status S]
                    [--labelled-by me|anyone|nobody] [--json]
    campaign list

In a blind campaign ``next`` never prints the model's judgment; ``label`` prints it once saved."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import UserError

if TYPE_CHECKING:
    from ..store.campaigns.records import RecordFilter

SUMMARY = "labelling campaigns: create, hand out items (next), label, skip, status, anchoring"


def _common(parser: argparse.ArgumentParser, person: bool = False, item: bool = False) -> None:
    parser.add_argument("name", metavar="NAME", help="the campaign's name")
    if person:
        parser.add_argument("--as", dest="person", required=True, metavar="PERSON", help="who is labelling")
    if item:
        parser.add_argument("--item", type=int, required=True, help="the item id that next printed")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL of the store (default: db/erank_studio.sqlite)")


def _filter_args(parser: argparse.ArgumentParser, statuses: str) -> None:
    """The records search's criteria (``records`` and ``create`` take the same)."""
    parser.add_argument("--as", dest="person", default="", metavar="PERSON",
                        help="who 'me' is (and who looks, if blind)")
    parser.add_argument("--text", default="", help="in the query, the document or its id (any case)")
    parser.add_argument("--model-min", type=int, help="the model's score at least")
    parser.add_argument("--model-max", type=int, help="the model's score at most")
    parser.add_argument("--disagreement", type=int, help="some label at least this far from the model's score")
    parser.add_argument("--status", default="", help=statuses)
    parser.add_argument("--labelled-by", choices=["me", "anyone", "nobody"], help="who labelled it")


def _filter(args: argparse.Namespace, limit: int = 200) -> RecordFilter:
    from ..store.campaigns import records

    return records.RecordFilter(text=args.text, model_min=args.model_min, model_max=args.model_max,
                                disagreement=args.disagreement, status=args.status,
                                labelled_by="no one" if args.labelled_by == "nobody" else args.labelled_by or "",
                                person=args.person, limit=limit)


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..queue import STRATEGIES

    parser = subparsers.add_parser("campaign", help=SUMMARY, description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a campaign over a run's or a dataset's judged documents")
    _common(create)
    source = create.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", type=int, help="the documents of this run")
    source.add_argument("--dataset", help="every query of this dataset's batch")
    create.add_argument("--model", help="with --dataset: whose judgments (needed when several models judged)")
    create.add_argument("--top-k", type=int, help="with --dataset: each query's best K by the model's ranking")
    create.add_argument("--overlap", type=int, required=True, help="labels wanted per item (k people each)")
    create.add_argument("--blind", action="store_true", help="withhold the model's judgment until the label")
    create.add_argument("--guidelines", metavar="FILE.md", help="markdown guidelines (default: the 0..10 rubric)")
    create.add_argument("--strategy", choices=list(STRATEGIES), default="rank",
                        help="the order items are handed out in: " + "; ".join(f"{k}: {v}" for k, v in STRATEGIES.items()))
    create.add_argument("--lease-minutes", type=float, default=10.0,
                        help="how long an item stays with the person who got it (default 10)")
    _filter_args(create.add_argument_group("filter (only the documents `campaign records` finds with it)"),
                 "labelled or unlabelled")
    nxt = actions.add_parser("next", help="lease the next item to a person and print it")
    _common(nxt, person=True)
    nxt.add_argument("--json", action="store_true", help="print one JSON object")
    lab = actions.add_parser("label", help="save a person's label of an item")
    _common(lab, person=True, item=True)
    lab.add_argument("--score", type=int, required=True, help="0..10")
    lab.add_argument("--rationale", help="why (becomes the SFT target's reasoning)")
    lab.add_argument("--note", help="a note for the team")
    lab.add_argument("--seconds", type=float, help="time spent (default: measured from next)")
    lab.add_argument("--json", action="store_true", help="print one JSON object")
    _common(actions.add_parser("skip", help="pass on an item (never handed to that person again)"),
            person=True, item=True)
    _common(actions.add_parser("keep-trace", help="a blind label keeps the model's revealed trace for SFT"),
            person=True, item=True)
    guide = actions.add_parser("guidelines", help="print the guidelines, or store a new version")
    _common(guide)
    guide.add_argument("--set", metavar="FILE.md", help="store this file as the next version")
    for action, what in (("status", "progress per person and overall"),
                         ("anchoring", "agreement with the model: blind labels vs labels with the model in view")):
        sub = actions.add_parser(action, help=what)
        _common(sub)
        sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rec = actions.add_parser("records", help="search and filter a campaign's items or a run's documents")
    rec.add_argument("name", metavar="NAME", nargs="?", help="the campaign (or give --run or --dataset)")
    rec.add_argument("--run", type=int, help="a run's documents instead of a campaign's items")
    rec.add_argument("--dataset", help="a dataset batch's documents instead of a campaign's items")
    rec.add_argument("--model", help="with --dataset: whose judgments (needed when several models judged)")
    rec.add_argument("--top-k", type=int, help="with --dataset: each query's best K by the model's ranking")
    _filter_args(rec, "campaign: done, leased or left; run or dataset: labelled or unlabelled")
    rec.add_argument("--limit", type=int, default=200, help="at most this many (default 200)")
    rec.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rec.add_argument("--db", default=None, help="SQLAlchemy URL of the store")
    lst = actions.add_parser("list", help="the campaigns in the store")
    lst.add_argument("--db", default=None, help="SQLAlchemy URL of the store")
    parser.set_defaults(func=run)


def _read_markdown(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None


def _print_item(item: dict | None) -> None:
    if item is None:
        print("nothing left for you in this campaign")
        return
    print(f"item {item['item']}  (query {item['query_key']}, document {item['doc_id']}; "
          f"guidelines v{item['guidelines']['version']}; leased until {item['leased_until']})")
    print(f"query: {item['query']}\n\n{item['document']}")
    model = item.get("model")
    if model is not None:
        print(f"\nmodel: {model['score']} (P {model['probability']}), rank {model['rank']}")


def _create(store, args: argparse.Namespace) -> int:
    from ..store.campaigns import setup

    if args.dataset is None and (args.model or args.top_k is not None):
        raise UserError("--model and --top-k go with --dataset")
    if not 0 < args.lease_minutes <= 7 * 24 * 60:
        raise UserError("--lease-minutes must be more than 0 and at most a week")
    text = _read_markdown(args.guidelines) if args.guidelines else None
    campaign = setup.create(store, args.name, run_id=args.run, dataset=args.dataset, model=args.model,
                            top_k=args.top_k, overlap=args.overlap, blind=args.blind, guidelines_text=text,
                            strategy=args.strategy, lease_s=max(1, round(args.lease_minutes * 60)),
                            record_filter=_filter(args))
    print(f"campaign {campaign.name}: {campaign.n_items} items from {campaign.origin}, "
          f"{campaign.overlap} label(s) each{', blind' if campaign.blind else ''}")
    return 0


def _records(store, args: argparse.Namespace) -> None:
    from ..store.campaigns import records

    if [args.name, args.run, args.dataset].count(None) != 2:
        raise UserError("give a campaign NAME, --run ID or --dataset S (one of them)")
    if args.dataset is None and (args.model or args.top_k is not None):
        raise UserError("--model and --top-k go with --dataset")
    if args.top_k is not None and args.top_k < 1:
        raise UserError("--top-k must be at least 1")
    if args.limit < 1:
        raise UserError("--limit must be at least 1")
    flt = _filter(args, args.limit)
    if args.name is not None:
        found = records.campaign_records(store, args.name, flt)
    elif args.run is not None:
        found = records.run_records(store, args.run, flt)
    else:
        found = records.batch_records(store, args.dataset, flt, model=args.model, top_k=args.top_k)
    if args.json:
        print(json.dumps(found, indent=1))
        return
    rows = [records.HEADERS] + [[str(v) for v in r] for r in records.table_rows(found)]
    widths = [min(max(len(r[n]) for r in rows), 60) for n in range(len(rows[0]))]
    for r in rows:
        print("  ".join(v[:w].ljust(w) for v, w in zip(r, widths)).rstrip())
    print(f"{len(found)} found")


def _act(store, args: argparse.Namespace) -> int:
    from ..store.campaigns import anchoring, lookup, progress, setup, work

    if args.action == "create":
        return _create(store, args)
    if args.action == "next":
        item = work.next_item(store, args.name, args.person)
        print(json.dumps(item if item is not None else {"item": None})) if args.json else _print_item(item)
    elif args.action == "label":
        saved = work.label(store, args.name, args.person, args.item, args.score, args.rationale, args.note,
                           args.seconds)
        if args.json:
            print(json.dumps(saved))
        else:
            model = saved["model"]
            print(f"saved label {saved['label']}: item {saved['item']} scored {saved['score']}"
                  + (f"; the model said {model['score']}" if model else ""))
    elif args.action == "skip":
        work.skip(store, args.name, args.person, args.item)
        print(f"skipped item {args.item}")
    elif args.action == "keep-trace":
        print(f"kept the model's trace: label {work.keep_trace(store, args.name, args.person, args.item)}")
    elif args.action == "guidelines":
        if args.set:
            print(f"guidelines version {setup.edit_guidelines(store, args.name, _read_markdown(args.set))} saved")
        else:
            from ..store.campaigns import guidelines

            with store.read() as conn:
                version, text = guidelines.current(conn, lookup.find(conn, args.name).id)
            print(f"<!-- version {version} -->\n{text}")
    elif args.action == "status":
        result = progress.status(store, args.name)
        print(json.dumps(result, indent=1) if args.json else progress.format_status(result))
    elif args.action == "anchoring":
        result = anchoring.report(store, args.name)
        print(json.dumps(result, indent=1) if args.json else anchoring.format_report(result))
    elif args.action == "records":
        _records(store, args)
    elif args.action == "list":
        print("\n".join(lookup.names(store)) or "no campaigns yet", file=sys.stdout)
    return 0


READ_ONLY = {"status", "anchoring", "list", "records"}


def run(args: argparse.Namespace) -> int:
    from ..store.campaigns import CampaignError
    from .common import open_store

    read_only = args.action in READ_ONLY or (args.action == "guidelines" and not args.set)
    store = open_store(args.db, read_only=read_only, must_exist=True)
    try:
        return _act(store, args)
    except CampaignError as error:
        raise UserError(str(error)) from None
    finally:
        store.close()
