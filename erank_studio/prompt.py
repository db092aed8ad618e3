"""ERank's prompt: the template, the paper's instructions, truncation and chat rendering."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .types import Truncation

DEFAULT_TRUNCATE_LENGTH = 2048

# The template ERank's released inference code sends (the model repositories' examples/utils.py,
# used by ERank_Transformer and ERank_vLLM): the published weights were run with this one.
ERANK_TEMPLATE = (
    "Given a query and a document, please give a relevance score of 0~10.\n"
    "The goal or relevance definition is: {instruction}\n"
    "\n"
    "Here is the query:\n"
    "{query}\n"
    "\n"
    "Here is the document:\n"
    "{doc}\n"
    "\n"
    "After thinking, directly choose a relevance score from [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].\n"
    "- 0 represents completely not related\n"
    "- 10 means perfectly related.\n"
    "\n"
    "Desired output format:\n"
    "<think>put your thinking here</think><answer>Only allows an integer here</answer>\n"
    "\n"
    "Your output:"
)

# The wording printed in the paper's Figure 5 (kept as a named alternative, never the default).
PAPER_TEMPLATE = (
    "Given a query and a document, please give a relevance score of 0 to 10. "
    "The goal or relevance definition is: {instruction}\n"
    "\n"
    "Here is the query: {query}\n"
    "Here is the document: {doc}\n"
    "After thinking, directly choose a relevance score from [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].\n"
    "- 0 represents completely not related.\n"
    "- 10 means perfectly related.\n"
    "Desired output format: <think> put your thinking here </think>"
    "<answer> Only allows an integer here </answer>\n"
    "Your output:"
)

TEMPLATES: dict[str, str] = {"erank": ERANK_TEMPLATE, "paper": PAPER_TEMPLATE}
DEFAULT_TEMPLATE = "erank"
TEMPLATE_DESCRIPTIONS: dict[str, str] = {
    "erank": "ERank's released inference code (what the published weights were run with)",
    "paper": "the wording printed in the paper's Figure 5",
}


def template_text(template: str) -> str:
    """The template called ``template`` ("erank" or "paper")."""
    try:
        return TEMPLATES[template]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}"
        ) from None


_HELPFUL = (
    "A document is relevant if it contains information that helps answer or address the query. "
    "A document is not relevant if it doesn't contain information that helps answer the query, "
    "even if it mentions similar topics."
)
_THEOREMQA = (
    "We want to find a document which uses the same mathematical process as the query. "
    "A document is relevant if it uses the same mathematical process as the query."
)
_PASSAGE = "Given a query, retrieval relevant passage."  # sic, as ERank was evaluated

# The instructions of the paper's evaluation, keyed by task (verbatim, typos included).
INSTRUCTIONS: dict[str, str] = {
    "bright/biology": _HELPFUL,
    "bright/earth_science": _HELPFUL,
    "bright/economics": _HELPFUL,
    "bright/psychology": _HELPFUL,
    "bright/robotics": _HELPFUL,
    "bright/stackoverflow": _HELPFUL,
    "bright/sustainable_living": _HELPFUL,
    "bright/aops": (
        "We want to find different but similar math problems to the query. A document is "
        "relevant if it uses the same class of functions and shares any overlapping techniques."
    ),
    "bright/leetcode": (
        "I am looking to find different problems that share similar data structures (of any kind) "
        "or algorithms (e.g. DFS, DP, sorting, traversals, etc.). I am looking for problems that "
        "share one or both of these similarities to the query. Does the passage below share any "
        "similarities? e.g. if there was a textbook on leetcode problems, this would be in the "
        "same book even though it could be in a different chapter."
    ),
    "bright/pony": (
        "I will use the programming language pony. But to solve the problem above, I need to know "
        "things about pony. A passage is relevant if it contains docs that match any part (even "
        "basic parts) of the code I will have to write for the above program."
    ),
    "bright/theoremqa_questions": _THEOREMQA,
    "bright/theoremqa_theorems": _THEOREMQA,
    "beir": _PASSAGE,
    "trec-dl": _PASSAGE,
    "followir": (
        "Retrieval the relevant passage for the given query. Be careful about the extra "
        "requirements about relevance in the query."
    ),
}
DEFAULT_INSTRUCTION = INSTRUCTIONS["beir"]


_TASK_FAMILIES = ("beir", "trec-dl", "trec_dl", "followir")


def known_task(task: str) -> bool:
    """Whether ``instruction_for`` has a rule for ``task`` (rather than its default)."""
    key = task.strip().lower().replace("-", "_")
    names = {name.replace("-", "_") for name in INSTRUCTIONS}
    return key in names or any(key.startswith(f.replace("-", "_")) for f in _TASK_FAMILIES)


def instruction_for(task: str) -> str:
    """The paper's instruction for a task name such as ``bright/biology``, ``beir/scifact`` or
    ``trec-dl-2019``; the passage instruction when the task is unknown."""
    key = task.strip().lower().replace("-", "_")
    for name, text in INSTRUCTIONS.items():
        if key == name.replace("-", "_"):
            return text
    if key.startswith("bright/"):
        return _HELPFUL
    if key.startswith("followir"):
        return INSTRUCTIONS["followir"]
    return _PASSAGE


class Tokenizer(Protocol):
    def __call__(self, text: str, add_special_tokens: bool = ...) -> Any: ...
    def tokenize(self, text: str) -> list[str]: ...
    def convert_tokens_to_string(self, tokens: list[str]) -> str: ...
    def decode(self, ids: list[int], skip_special_tokens: bool = ...) -> str: ...
    def apply_chat_template(self, messages: list[dict[str, str]], **kwargs: Any) -> Any: ...


# Characters looked at per allowed token before tokenizing (doubled until enough tokens come
# out): a 50 MB document then costs what its first few hundred kilobytes cost.
_CHARS_PER_TOKEN = 8
_MIN_WINDOW_CHARS = 4096
# Tokens past the cut that must also agree before the window is trusted: a word or a special
# token split by the window's end only changes the tokens near that end.
_SETTLING_TOKENS = 16


def _leading_tokens(text: str, tokenizer: Tokenizer, max_tokens: int) -> tuple[list[str], bool]:
    """``tokenizer.tokenize(text)``, or only a head of it that surely holds the first
    ``max_tokens`` tokens exactly; the flag says whether the whole text was tokenized.

    A window of the text is trusted when tokenizing it and a window twice as long give the same
    first ``max_tokens`` tokens, with more tokens after them: what the cut changes stays near
    the cut."""
    window = max(_MIN_WINDOW_CHARS, max_tokens * _CHARS_PER_TOKEN)
    while 2 * window < len(text):
        head = tokenizer.tokenize(text[:window])
        if len(head) > max_tokens + _SETTLING_TOKENS:
            longer = tokenizer.tokenize(text[: 2 * window])
            if longer[:max_tokens] == head[:max_tokens]:
                return longer, False
        window *= 2
    return tokenizer.tokenize(text), True


def truncate(text: str, tokenizer: Tokenizer | None, max_tokens: int) -> tuple[str, Truncation]:
    """What ERank's released code keeps of ``text``:
    ``tokenizer.convert_tokens_to_string(tokenizer.tokenize(text)[:max_tokens])``, exactly.

    The released code applies this round trip to every query and document, short ones too (it
    can normalise text, e.g. Unicode NFC under Qwen's tokenizer), so it is applied here always.
    A long text is cut to a bounded window of characters before tokenizing (see
    ``_leading_tokens``), so memory follows the budget, not the input; its token count is then
    a lower bound (``Truncation.counted_all`` False).

    Without a tokenizer (a remote server that exposes none) the text is kept whole and counted
    as zero tokens, so the caller can tell that nothing was measured."""
    if tokenizer is None:
        return text, Truncation(original_tokens=0, kept_tokens=0)
    tokens, complete = _leading_tokens(text, tokenizer, max_tokens)
    kept = tokens[:max_tokens]
    return tokenizer.convert_tokens_to_string(kept), Truncation(
        original_tokens=len(tokens), kept_tokens=len(kept), counted_all=complete
    )


def user_message(query: str, document: str, instruction: str, template: str = DEFAULT_TEMPLATE) -> str:
    """ERank's user message with the slots filled (no truncation)."""
    return template_text(template).format(instruction=instruction, query=query, doc=document)


@dataclass
class Prompt:
    """One (query, document) prompt as the model will read it."""

    message: str  # the user message
    text: str | None  # the message rendered with the chat template (None without a tokenizer)
    query_truncation: Truncation
    document_truncation: Truncation
    template: str = DEFAULT_TEMPLATE  # the name of the template the message was built with

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.message}]


def render_chat(tokenizer: Tokenizer, message: str) -> str:
    """The message rendered with the tokenizer's own chat template, generation prompt added."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": message}], tokenize=False, add_generation_prompt=True
    )


def build(
    query: str,
    document: str,
    instruction: str,
    tokenizer: Tokenizer | None,
    truncate_length: int = DEFAULT_TRUNCATE_LENGTH,
    template: str = DEFAULT_TEMPLATE,
) -> Prompt:
    """The prompt ERank reads: query and document each cut to ``truncate_length`` tokens, put
    into the template called ``template`` ("erank", the released code's, by default)."""
    if truncate_length < 1:
        raise ValueError("truncate_length must be at least 1 token")
    template_text(template)  # an unknown name fails before any tokenizing
    kept_query, query_cut = truncate(query, tokenizer, truncate_length)
    kept_doc, doc_cut = truncate(document, tokenizer, truncate_length)
    message = user_message(kept_query, kept_doc, instruction, template)
    text = render_chat(tokenizer, message) if tokenizer is not None else None
    return Prompt(
        message=message, text=text, query_truncation=query_cut, document_truncation=doc_cut,
        template=template,
    )
