"""``prompt``: print the exact text the model will read for one (query, document) pair."""
from __future__ import annotations

import argparse
import sys

from .. import docfiles, prompt, text_rules
from ..errors import FileFormatError
from ..engines.tokenizers import TokenizerUnavailable, load_tokenizer
from . import UserError
from .common import add_instruction_arguments, add_template_argument, checked_text, instruction_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("prompt", help="print the exact prompt text and its token count")
    parser.add_argument("--query", required=True)
    document = parser.add_mutually_exclusive_group(required=True)
    document.add_argument("--document")
    document.add_argument("--document-file", help="read the document from a file ('-' for stdin)")
    add_instruction_arguments(parser)
    parser.add_argument("--model", default=None, help="whose tokenizer and chat template (default: ERank-4B's)")
    parser.add_argument("--truncate-length", type=int, default=prompt.DEFAULT_TRUNCATE_LENGTH)
    add_template_argument(parser)
    parser.set_defaults(func=run)


def _document_text(args: argparse.Namespace) -> str:
    """The document as given: --document, or a file (or stdin) read under the readers' bound.
    Its BOM and line endings are the run path's business (``text_rules``), for both."""
    if args.document is not None:
        return args.document
    try:
        if args.document_file == "-":
            data = docfiles.read_bounded(sys.stdin.buffer, "stdin", FileFormatError)
        else:
            data = docfiles.read_file_bytes(args.document_file, args.document_file, FileFormatError)
        return docfiles.decode_bytes(data, args.document_file)
    except FileFormatError as error:
        raise UserError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    if not checked_text(args.query, "--query").strip():
        raise UserError("--query is empty")
    document = checked_text(_document_text(args), "the document")
    if not document.strip():
        raise UserError("the document is empty")
    if args.truncate_length < 1:
        raise UserError("--truncate-length must be at least 1")
    try:
        tokenizer, note, chat_template_source = load_tokenizer(args.model)
    except TokenizerUnavailable as error:
        raise UserError(str(error)) from None
    built = prompt.build(
        text_rules.normalise_query(args.query), text_rules.normalise_document(document),
        text_rules.normalise_instruction(instruction_from(args)), tokenizer, args.truncate_length, args.template
    )
    sys.stdout.write(built.text or built.message)
    sys.stdout.write("\n")
    total = len(tokenizer(built.text, add_special_tokens=False)["input_ids"])
    summary = [f"{total} tokens", f"template {built.template}", f"chat template: {chat_template_source}"]
    for name, cut in (("query", built.query_truncation), ("document", built.document_truncation)):
        of = f"{cut.original_tokens}" if cut.counted_all else f"at least {cut.original_tokens}"
        state = f"truncated: kept {cut.kept_tokens} of {of} tokens" if cut.truncated else f"{cut.original_tokens} tokens, whole"
        summary.append(f"{name} {state}")
    if note:
        summary.append(note)
    print("--- " + "; ".join(summary), file=sys.stderr)
    return 0
