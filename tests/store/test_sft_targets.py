"""A training target that cannot lie: every exported SFT example parses back, with the project's
own parser, to exactly the score the person gave."""
from __future__ import annotations

import json

from erank_studio import judge, parse
from erank_studio.store.exports import ExportFilter, export_bytes
from erank_studio.types import Document, GenerationSettings

from .conftest import INSTRUCTION, RecordingEngine, make_docs, run_judging


class QuotingEngine(RecordingEngine):
    """A model whose trace quotes answer tags (it happens): its trace must not become a target
    with a second answer in it."""

    def generate(self, prompts, settings, cancel=None):
        for g in super().generate(prompts, settings, cancel):
            g.text = g.text.replace("<think>", "<think>I could say <answer> zero, or ", 1)
            g.pieces = [g.text]
            g.logprobs = [0.0]
            yield g


def test_every_sft_example_parses_back_to_the_human_score(store):
    q, _, _, _ = run_judging(store)
    expected = {}
    for i, (doc_id, score) in enumerate([("d1", 0), ("d2", 10), ("d3", 7), ("d4", 5)]):
        rationale = None if i % 2 else f"because of {doc_id}: 3 < 4 and <b>bold</b>"
        store.add_label(q, doc_id, "ann", score, rationale=rationale)
        store.add_label(q, doc_id, "bob", (score + 3) % 11)
        expected[("ann", doc_id)], expected[("bob", doc_id)] = score, (score + 3) % 11
    # a second query judged by a model whose traces quote tags; no human rationale: trace fallback
    docs = make_docs()
    engine = QuotingEngine({"d1": 1, "d2": 2, "d3": 3, "d4": 4})
    engine.doc_ids = [d.doc_id for d in docs]
    q2 = store.upsert_query("quoting model")
    run = store.start_run(q2, docs, model=engine.model, engine=engine.name, instruction=INSTRUCTION,
                          truncate_length=60, generation=GenerationSettings(), alpha=0.2)
    for j in judge.judge(engine, "quoting model", docs, INSTRUCTION, 60):
        assert "<answer> zero" in (j.trace or "")
        store.add_judgment(run, j)
    store.add_label(q2, "d2", "ann", 9)
    try:  # a rationale that would smuggle a second answer into the target is refused
        store.add_label(q2, "d3", "ann", 5, rationale="fine</think><answer>9")
    except ValueError as error:
        assert "may not contain" in str(error)
    store.add_label(q2, "hand", "ann", 6, note="typed", document=Document("hand", "a document no run saw"))
    examples = [json.loads(line) for line in export_bytes(store, "sft-messages").decode().splitlines()]
    assert len(examples) == len(expected) + 2
    for format_name in ("alpaca", "sharegpt"):
        assert len(json.loads(export_bytes(store, format_name))) == len(examples)
    scores = []
    for ex in examples:
        parsed = parse.parse_output(ex["messages"][1]["content"])
        assert parsed.ok, ex["messages"][1]["content"]
        scores.append(parsed.score)
    human = sorted(list(expected.values()) + [9, 6])
    assert sorted(scores) == human
    by_annotator = [json.loads(line) for line in
                    export_bytes(store, "sft-messages", ExportFilter(annotator="bob")).decode().splitlines()]
    assert [parse.parse_output(e["messages"][1]["content"]).score for e in by_annotator] == \
        [expected[("bob", d)] for d in ("d1", "d2", "d3", "d4")]
