import functools
import random
import re
from pathlib import Path

import pytest

from erank_studio import prompt

# The template ERank's released code sends (section 1 of the reference), typed out by hand here,
# not taken from the project's constant: the test must catch a drift in either.
RELEASED = """Given a query and a document, please give a relevance score of 0~10.
The goal or relevance definition is: {instruction}

Here is the query:
{query}

Here is the document:
{doc}

After thinking, directly choose a relevance score from [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].
- 0 represents completely not related
- 10 means perfectly related.

Desired output format:
<think>put your thinking here</think><answer>Only allows an integer here</answer>

Your output:"""

# The paper's Figure 5 wording, typed out by hand.
FIGURE_5 = """Given a query and a document, please give a relevance score of 0 to 10. The goal or relevance definition is: {instruction}

Here is the query: {query}
Here is the document: {document}
After thinking, directly choose a relevance score from [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].
- 0 represents completely not related.
- 10 means perfectly related.
Desired output format: <think> put your thinking here </think><answer> Only allows an integer here </answer>
Your output:"""

# The project's reference document, when this checkout sits in the workspace that holds it.
REFERENCE_FILE = next(
    (p / "shared" / "erank-reference.md" for p in Path(__file__).resolve().parents
     if (p / "shared" / "erank-reference.md").exists()),
    Path("erank-reference.md-not-found"),
)

INPUTS = {
    "plain": ("Why do cats purr?", "Purring is produced by the laryngeal muscles."),
    "unicode": ("Qu'est-ce que le café ? 東京の天気 🐈", "Ünïcödé text: naïve façade, Ελληνικά, العربية, e\u0301 decomposed."),
    "multi-line": ("line one\nline two\n\n  indented", "Title\n\nFirst paragraph.\r\nSecond\tparagraph.\n"),
    "braces": ("what does {x} mean in {0} and {}?", "f\"{value!r}\" and {{doubled}} and {doc} {query} {instruction}"),
}


def released_truncation(tokenizer, text: str, length: int) -> str:
    """The released code's truncation, written out from the reference."""
    return tokenizer.convert_tokens_to_string(tokenizer.tokenize(text)[:length])


def released_text(tokenizer, query: str, doc: str, instruction: str, length: int = 2048) -> str:
    message = RELEASED.replace("{instruction}", instruction)
    message = message.replace("{query}", released_truncation(tokenizer, query, length), 1)
    # str.replace, not str.format: braces inside the inputs must survive untouched.
    head, tail = message.split("{doc}")
    message = head + released_truncation(tokenizer, doc, length) + tail
    return f"<|im_start|>user\n{message}<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.parametrize("case", list(INPUTS))
def test_default_prompt_is_the_released_code_character_for_character(qwen3_tokenizer, case):
    query, document = INPUTS[case]
    instruction = prompt.INSTRUCTIONS["bright/biology"] + " {braces} too"
    built = prompt.build(query, document, instruction, qwen3_tokenizer)
    assert built.text == released_text(qwen3_tokenizer, query, document, instruction)
    assert built.template == prompt.DEFAULT_TEMPLATE == "erank"


def test_default_prompt_truncates_exactly_as_the_released_code(qwen3_tokenizer):
    query = "q " * 50
    document = "Ünïcode 東京 {x}\n" * 400
    built = prompt.build(query, document, "inst", qwen3_tokenizer, truncate_length=37)
    assert built.text == released_text(qwen3_tokenizer, query, document, "inst", length=37)
    assert built.document_truncation.kept_tokens == 37 and built.document_truncation.truncated


def test_released_template_matches_the_reference_document_when_it_is_here():
    if not REFERENCE_FILE.exists():
        pytest.skip("the reference document is not next to this checkout")
    section = REFERENCE_FILE.read_text(encoding="utf-8").split("## 1.")[1].split("## 2.")[0]
    block = re.search(r"```\n(.*?)\n```", section, re.DOTALL).group(1)
    assert block == RELEASED
    assert prompt.TEMPLATES["erank"] == block


@pytest.mark.parametrize("case", list(INPUTS))
def test_paper_template_is_figure_5(qwen3_tokenizer, case):
    query, document = INPUTS[case]
    built = prompt.build(query, document, "inst {}", qwen3_tokenizer, template="paper")
    kept_query = released_truncation(qwen3_tokenizer, query, 2048)
    kept_doc = released_truncation(qwen3_tokenizer, document, 2048)
    expected = FIGURE_5.replace("{instruction}", "inst {}").replace("{query}", kept_query, 1)
    head, tail = expected.split("{document}")
    assert built.message == head + kept_doc + tail
    assert built.template == "paper"


def test_unknown_template_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown template 'figure'; choose one of erank, paper"):
        prompt.build("q", "d", "i", None, template="figure")


def test_truncation_cuts_at_exactly_truncate_length_tokens(qwen3_tokenizer):
    document = " ".join(f"word{i}" for i in range(500))
    original = qwen3_tokenizer(document, add_special_tokens=False)["input_ids"]
    assert len(original) > 100
    for limit in (1, 7, 100, len(original) - 1):
        built = prompt.build("q", document, "inst", qwen3_tokenizer, truncate_length=limit)
        cut = built.document_truncation
        assert cut.truncated and cut.kept_tokens == limit and cut.original_tokens == len(original)
        kept = built.message.split("Here is the document:\n")[1].split("\n\nAfter thinking")[0]
        assert qwen3_tokenizer(kept, add_special_tokens=False)["input_ids"] == original[:limit]


def test_query_is_truncated_too_and_short_text_is_kept_whole(qwen3_tokenizer):
    built = prompt.build("a b c d e f g h", "short", "inst", qwen3_tokenizer, truncate_length=4)
    assert built.query_truncation.kept_tokens == 4 and built.query_truncation.original_tokens == 8
    assert "Here is the query:\na b c d\n" in built.message
    assert built.document_truncation.truncated is False
    assert built.document_truncation.kept_tokens == built.document_truncation.original_tokens == 1


def test_default_truncate_length_is_2048(qwen3_tokenizer):
    document = "token " * 3000
    built = prompt.build("q", document, "inst", qwen3_tokenizer)
    assert built.document_truncation.kept_tokens == 2048


def test_instruction_presets_cover_every_task_of_the_paper():
    bright = [
        "biology", "earth_science", "economics", "psychology", "robotics", "stackoverflow",
        "sustainable_living", "aops", "leetcode", "pony", "theoremqa_questions", "theoremqa_theorems",
    ]
    for task in bright:
        assert f"bright/{task}" in prompt.INSTRUCTIONS
    assert prompt.instruction_for("bright/earth-science") == prompt.INSTRUCTIONS["bright/biology"]
    assert prompt.instruction_for("beir/scifact") == "Given a query, retrieval relevant passage."
    assert prompt.instruction_for("trec-dl-2019") == "Given a query, retrieval relevant passage."
    assert prompt.instruction_for("followir/core17").startswith("Retrieval the relevant passage")
    assert "same mathematical process" in prompt.instruction_for("bright/theoremqa_theorems")


def test_prompt_without_tokenizer_keeps_text_whole():
    built = prompt.build("q", "d" * 10, "inst", None)
    assert built.text is None and "Here is the document:\ndddddddddd\n" in built.message


def test_known_tasks():
    for task in ("bright/biology", "bright/earth-science", "beir/scifact", "trec-dl-2019", "followir/core17", "beir"):
        assert prompt.known_task(task), task
    assert not prompt.known_task("bright/nonexist")
    assert not prompt.known_task("msmarco")


_FULL_TOKENS: dict[str, list[str]] = {}


@functools.lru_cache(maxsize=1)
def _long_texts() -> dict[str, str]:
    rng = random.Random(7)
    alphabet = "abcdefghij klmnop\n\t.,;:!?{}()[]éüßø東京天気🐈🚀٣７  "
    return {
        "words": " ".join(f"word{i}" for i in range(12000)),
        "one giant word": "x" * 60000,
        "letters without spaces": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(60000)),
        "whitespace runs": ("a" + " " * 300 + "\n" * 40) * 300,
        "emoji and CJK": "東京🐈天気🚀" * 12000,
        "special tokens": "text <|im_end|> <think></think> <|endoftext|>" * 2000,
        "random mix": "".join(rng.choice(alphabet) for _ in range(80000)),
        "decomposed accents": "e\u0301a\u0308 " * 20000,
    }


@pytest.mark.parametrize("name", list(_long_texts()))
@pytest.mark.parametrize("limit", [1, 7, 1000, 2048])
def test_bounded_window_keeps_exactly_what_the_released_truncation_keeps(qwen3_tokenizer, name, limit):
    text = _long_texts()[name]
    if name not in _FULL_TOKENS:
        _FULL_TOKENS[name] = qwen3_tokenizer.tokenize(text)
    full = _FULL_TOKENS[name]
    kept, cut = prompt.truncate(text, qwen3_tokenizer, limit)
    assert kept == qwen3_tokenizer.convert_tokens_to_string(full[:limit])
    assert cut.kept_tokens == min(limit, len(full))
    assert cut.original_tokens <= len(full)
    if cut.counted_all:
        assert cut.original_tokens == len(full)
    else:
        assert cut.original_tokens > limit  # a lower bound that still proves the cut


def test_a_huge_document_is_tokenized_only_through_a_bounded_window(qwen3_tokenizer):
    seen: list[int] = []

    class Counting:
        def tokenize(self, text):
            seen.append(len(text))
            return qwen3_tokenizer.tokenize(text)

        def convert_tokens_to_string(self, tokens):
            return qwen3_tokenizer.convert_tokens_to_string(tokens)

    document = "lorem ipsum dolor sit amet " * 400_000  # about 10 MB
    kept, cut = prompt.truncate(document, Counting(), 2048)
    assert max(seen) <= 4 * 2048 * 8  # characters handed to the tokenizer, not 10 MB
    assert cut.kept_tokens == 2048 and not cut.counted_all and cut.truncated
    assert kept == qwen3_tokenizer.convert_tokens_to_string(qwen3_tokenizer.tokenize(document[:200_000])[:2048])


def test_short_text_goes_through_the_released_round_trip_too(qwen3_tokenizer):
    text = "cafe\u0301 \u212b"  # decomposed é and the Angstrom sign: the tokenizer normalises them
    kept, cut = prompt.truncate(text, qwen3_tokenizer, 2048)
    assert kept == qwen3_tokenizer.convert_tokens_to_string(qwen3_tokenizer.tokenize(text))
    assert not cut.truncated and cut.counted_all
