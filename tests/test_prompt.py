from erank_studio import prompt

# ERank's template, written out by hand from the paper / model card (not from prompt.TEMPLATE).
REFERENCE = """Given a query and a document, please give a relevance score of 0 to 10. The goal or relevance definition is: {instruction}

Here is the query: {query}
Here is the document: {document}
After thinking, directly choose a relevance score from [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].
- 0 represents completely not related.
- 10 means perfectly related.
Desired output format: <think> put your thinking here </think><answer> Only allows an integer here </answer>
Your output:"""


def test_rendered_prompt_matches_reference_character_for_character(qwen3_tokenizer):
    query, document = "Why do cats purr?", "Purring is produced by the laryngeal muscles."
    instruction = prompt.INSTRUCTIONS["bright/biology"]
    built = prompt.build(query, document, instruction, qwen3_tokenizer)
    message = REFERENCE.format(instruction=instruction, query=query, document=document)
    assert built.message == message
    assert built.text == f"<|im_start|>user\n{message}<|im_end|>\n<|im_start|>assistant\n"
    assert not built.query_truncation.truncated and not built.document_truncation.truncated


def test_truncation_cuts_at_exactly_truncate_length_tokens(qwen3_tokenizer):
    document = " ".join(f"word{i}" for i in range(500))
    original = qwen3_tokenizer(document, add_special_tokens=False)["input_ids"]
    assert len(original) > 100
    for limit in (1, 7, 100, len(original) - 1):
        built = prompt.build("q", document, "inst", qwen3_tokenizer, truncate_length=limit)
        cut = built.document_truncation
        assert cut.truncated and cut.kept_tokens == limit and cut.original_tokens == len(original)
        kept = built.message.split("Here is the document: ")[1].split("\nAfter thinking")[0]
        assert qwen3_tokenizer(kept, add_special_tokens=False)["input_ids"] == original[:limit]


def test_query_is_truncated_too_and_short_text_is_kept_whole(qwen3_tokenizer):
    built = prompt.build("a b c d e f g h", "short", "inst", qwen3_tokenizer, truncate_length=4)
    assert built.query_truncation.kept_tokens == 4 and built.query_truncation.original_tokens == 8
    assert "Here is the query: a b c d\n" in built.message
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
    assert built.text is None and "Here is the document: dddddddddd\n" in built.message


def test_known_tasks():
    for task in ("bright/biology", "bright/earth-science", "beir/scifact", "trec-dl-2019", "followir/core17", "beir"):
        assert prompt.known_task(task), task
    assert not prompt.known_task("bright/nonexist")
    assert not prompt.known_task("msmarco")
