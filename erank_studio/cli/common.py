"""Arguments and helpers shared by commands that judge documents."""
from __future__ import annotations

import argparse
import math
import os
import sys
from typing import TYPE_CHECKING

from .. import prompt, text_rules
from ..engines import ENGINES, EngineUnavailable, fitted_budget, load_engine
from ..engines.base import Engine
from ..engines.servers import DEFAULT_CONCURRENCY, BaseURLError, parse_base_urls
from ..models import CPU_MAX_NEW_TOKENS, DEMO_MAX_NEW_TOKENS
from ..scoring import DEFAULT_ALPHA
from ..types import DEFAULT_MAX_NEW_TOKENS, MAX_NEW_TOKENS_CAP, GenerationSettings
from . import UserError

if TYPE_CHECKING:
    from ..store import Store


def checked_text(value: str, what: str) -> str:
    """``value`` if the studio can use it (``text_rules``), else a UserError naming ``what``:
    an undecodable byte on the command line arrives as a lone surrogate."""
    why = text_rules.problem(value)
    if why:
        raise UserError(f"{what} {why}")
    return value


def add_instruction_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--instruction", help="the relevance definition (default: the BEIR/TREC one)")
    group.add_argument(
        "--task",
        help="use the paper's instruction for a task, e.g. bright/biology, beir, trec-dl, followir",
    )


def instruction_from(args: argparse.Namespace) -> str:
    if getattr(args, "task", None):
        if not prompt.known_task(args.task):
            raise UserError(
                f"unknown --task {args.task!r}; known: {', '.join(prompt.INSTRUCTIONS)} "
                "(beir/<name>, trec-dl-<year> and followir/<name> work too)"
            )
        return prompt.instruction_for(args.task)
    instruction = getattr(args, "instruction", None)
    if instruction is not None and not instruction.strip():
        raise UserError("--instruction is empty")
    return instruction or prompt.DEFAULT_INSTRUCTION


def add_template_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--template", choices=list(prompt.TEMPLATES), default=prompt.DEFAULT_TEMPLATE,
        help="prompt wording: 'erank' = ERank's released code (default, what the weights were run "
        "with), 'paper' = the paper's Figure 5",
    )


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="hub id, local folder, or 'demo' (default: best model here)")
    parser.add_argument("--engine", default="auto", choices=ENGINES)
    parser.add_argument(
        "--base-url", default=None, metavar="URL[,URL...]",
        help="OpenAI-compatible server(s), for --engine openai (default: $ERANK_OPENAI_BASE_URL or "
        "$ERANK_BASE_URL, else http://127.0.0.1:8000/v1); several, separated by commas: each query "
        "goes to one of them, a failed server's documents to the others",
    )
    parser.add_argument(
        "--concurrency", type=int, default=None, metavar="N",
        help=f"--engine openai: requests in flight per server (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument("--truncate-length", type=int, default=prompt.DEFAULT_TRUNCATE_LENGTH)
    parser.add_argument(
        "--max-new-tokens", type=int, default=None,
        help=f"generation budget (default {DEFAULT_MAX_NEW_TOKENS}, as ERank's released vLLM code; "
        f"{CPU_MAX_NEW_TOKENS} for the CPU default model, {DEMO_MAX_NEW_TOKENS} for the demo model)",
    )
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="hybrid weight of the first stage")
    parser.add_argument(
        "--force-answer",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="read a forced score when the model gives none (default: on for the demo model only)",
    )
    parser.add_argument("--no-fallback", action="store_true", help="fail instead of using the demo model")
    add_template_argument(parser)


def check_engine_arguments(args: argparse.Namespace) -> None:
    if args.truncate_length < 1:
        raise UserError("--truncate-length must be at least 1")
    cap = max_new_tokens_cap()
    if args.max_new_tokens is not None and not 1 <= args.max_new_tokens <= cap:
        raise UserError(f"--max-new-tokens must lie between 1 and {cap} (the app's bound; an operator raises "
                        "it with ERANK_MAX_NEW_TOKENS)")
    if not 0.0 <= args.alpha <= 1.0:  # also refuses nan
        raise UserError("--alpha must lie between 0 and 1")
    if not math.isfinite(args.temperature) or args.temperature < 0:
        raise UserError("--temperature must be a finite number, 0 or more")
    check_server_arguments(args)


def max_new_tokens_cap() -> int:
    """The app's bound on the generation budget, or the operator's larger ERANK_MAX_NEW_TOKENS."""
    try:
        operator = int(os.environ.get("ERANK_MAX_NEW_TOKENS") or 0)
    except ValueError:
        operator = 0
    return max(MAX_NEW_TOKENS_CAP, operator)


def check_server_arguments(args: argparse.Namespace) -> None:
    """--base-url and --concurrency: refused in one line before anything loads."""
    if args.concurrency is not None and args.concurrency < 1:
        raise UserError("--concurrency must be at least 1")
    if args.concurrency is not None and args.engine != "openai":
        raise UserError("--concurrency is for --engine openai (the other engines batch on their own)")
    if args.base_url is not None and args.engine == "openai":
        try:
            parse_base_urls(args.base_url)
        except BaseURLError as error:
            raise UserError(f"--base-url: {error}") from None


def engine_from(args: argparse.Namespace) -> Engine:
    options: dict[str, object] = {}
    if args.engine == "openai":
        if args.base_url:
            options["base_url"] = args.base_url
        if args.concurrency is not None:
            options["concurrency"] = args.concurrency
    try:
        engine = load_engine(args.model, args.engine, fallback=not args.no_fallback, **options)
    except EngineUnavailable as error:
        raise UserError(str(error)) from None
    if engine.warning:
        print(f"warning: {engine.warning}", file=sys.stderr)
    return engine


def settings_from(args: argparse.Namespace, engine: Engine) -> GenerationSettings:
    force = args.force_answer if args.force_answer is not None else not engine.is_reranker
    # A --max-new-tokens given is the person's choice, whatever its value (no default to compare).
    budget, why = fitted_budget(engine, args.max_new_tokens or None, default=0)
    if why:
        print(f"note: {why}", file=sys.stderr)
    return GenerationSettings(max_new_tokens=budget, temperature=args.temperature, force_answer=force)


def open_store(db: str | None, *, read_only: bool = False, must_exist: bool = False) -> Store:
    """The store named by ``--db``, or a UserError saying in one line why it cannot be used
    (missing for a read command, corrupted, read-only, of a newer schema, busy). Commands open
    it before loading a model, so a bad store costs no model load."""
    from ..store import Store, StoreError

    try:
        return Store(db, read_only=read_only, must_exist=must_exist)
    except StoreError as error:
        raise UserError(str(error)) from None
