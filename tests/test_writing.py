"""Progress inside documents: what the engines report while a document is written, the line the
page and the CLI show from it, and the demo model's budget."""
from __future__ import annotations

import threading

import pytest

from erank_studio import runs
from erank_studio.engines import fitted_budget
from erank_studio.engines.base import CancelToken
from erank_studio.engines.writing import WritingProgress, progress_line, ticking, writing_of
from erank_studio.types import DEFAULT_MAX_NEW_TOKENS, Document, GenerationSettings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_tracker_counts_documents_being_written_and_their_tokens():
    clock = Clock()
    tracker = WritingProgress(clock)
    run_a, run_b = tracker.scope(), tracker.scope()
    run_a.begin(0, 1)
    run_b.begin(0)  # the same position in another run is another document
    clock.now += 10
    run_a.tokens({0: 120, 1: 40})
    run_b.tokens({0: 80})
    snap = tracker.snapshot()
    assert (snap.documents, snap.tokens_now, snap.longest, snap.written) == (3, 240, 120, 240)
    assert snap.tokens_per_s == pytest.approx(24.0)
    run_a.end(0, 130)  # its final count, more than last reported
    snap = tracker.snapshot()
    assert (snap.documents, snap.tokens_now, snap.written) == (2, 120, 250)
    assert writing_of(None).begin(0) is None and writing_of(CancelToken()).tokens({0: 1}) is None  # no tracker


def test_the_line_says_tokens_so_far_rate_and_time_left():
    clock = Clock()
    tracker = WritingProgress(clock)
    scope = tracker.scope()
    assert progress_line(tracker.snapshot(), 0, 8, 0.0, 256) == ""  # nothing being written
    scope.begin(0, 1, 2, 3)
    clock.now += 20
    scope.tokens({0: 100, 1: 100, 2: 100, 3: 100})
    # Nothing finished: an upper bound from the budget (8 x 256 tokens, 400 written, 20 tokens/s).
    assert progress_line(tracker.snapshot(), 0, 8, 20.0, 256) == (
        "writing 4 documents: 400 tokens so far (longest 100 of 256) · 20.0 tokens/s · at most 82 s left")
    # Two finished in 40 s: six more at that pace.
    assert progress_line(tracker.snapshot(), 2, 8, 40.0, 256).endswith("about 2 min left")


def test_a_child_token_is_cancelled_by_its_parent_only():
    parent = CancelToken()
    child = CancelToken(parent=parent)
    child.cancel()
    assert child.cancelled and not parent.cancelled
    other = CancelToken(parent=parent)
    parent.cancel()
    assert other.cancelled


def test_ticking_reports_until_the_block_ends():
    heard = threading.Event()
    with ticking(0.01, heard.set):
        assert heard.wait(10)


class Model:
    def __init__(self, is_reranker, own):
        self.is_reranker, self.suggested_max_new_tokens, self.model = is_reranker, own, "demo-folder/SmolLM2"


def test_the_demo_model_gets_its_own_budget_unless_one_is_chosen():
    demo = Model(False, 256)
    budget, why = fitted_budget(demo, None)
    assert budget == 256 and "256 new tokens" in why and "answer forcing" in why
    assert fitted_budget(demo, DEFAULT_MAX_NEW_TOKENS)[0] == 256  # the untouched default box
    assert fitted_budget(demo, 1000) == (1000, None)  # chosen
    assert fitted_budget(demo, DEFAULT_MAX_NEW_TOKENS, default=0) == (DEFAULT_MAX_NEW_TOKENS, None)  # CLI: chosen
    erank = Model(True, None)
    assert fitted_budget(erank, None) == (DEFAULT_MAX_NEW_TOKENS, None)
    assert fitted_budget(erank, DEFAULT_MAX_NEW_TOKENS) == (DEFAULT_MAX_NEW_TOKENS, None)


def test_the_transformers_loop_reports_tokens_while_it_writes(tiny_model_dir):
    from erank_studio.engines import load_engine

    engine = load_engine(str(tiny_model_dir), "transformers")
    reports = []

    class Recording(WritingProgress):
        def _tokens(self, keys):
            reports.append(dict(keys))
            super()._tokens(keys)

    tracker = Recording()
    documents = [Document(f"d{i}", f"document {i} about cats and their purring") for i in range(3)]
    # The tiny model never stops early at this budget: every document is written to 16 tokens.
    spec = runs.RunSpec(query="cats", documents=documents, settings=GenerationSettings(max_new_tokens=16))
    run = runs.prepare(spec, engine)
    judgments = list(runs.execute(run, engine, cancel=CancelToken(writing=tracker.scope())))
    assert len(judgments) == 3
    assert reports and all(0 < n < 16 for report in reports for n in report.values())
    assert {index for report in reports for (_, index) in report} == {0, 1, 2}
    snap = tracker.snapshot()
    assert snap.documents == 0 and snap.written == sum(j.output_tokens for j in judgments)


def test_no_rate_is_shown_in_the_first_second():
    clock = Clock()
    tracker = WritingProgress(clock)
    tracker.scope().tokens({0: 7})
    clock.now += 0.01
    assert progress_line(tracker.snapshot(), 0, 6, 0.01, 8) == "writing 1 document: 7 tokens so far (longest 7 of 8)"


def test_rerank_says_on_stderr_what_is_being_written_between_judgments(tmp_path, monkeypatch, capsys):
    from erank_studio.cli import main, rerank
    from erank_studio.engines.base import Generation

    said = threading.Event()

    class Slow:  # writes 5 tokens of the document, then waits until the CLI has said so
        name, model, is_reranker, warning, chat_template_source, tokenizer = "fake", "fake", True, None, None, None

        def generate(self, prompts, settings, cancel=None):
            for i, _ in enumerate(prompts):
                writing_of(cancel).begin(i)
                writing_of(cancel).tokens({i: 5})
                assert said.wait(30)
                yield Generation(index=i, text="<answer>3</answer>", pieces=["<answer>", "3", "</answer>"],
                                 logprobs=[0.0, 0.0, 0.0], output_tokens=3)

    def line_then_tell(*args):
        text = progress_line(*args)
        if text:
            said.set()
        return text

    docs = tmp_path / "d.jsonl"
    docs.write_text('{"id": "a", "content": "one"}\n')
    monkeypatch.setattr(rerank, "engine_from", lambda args: Slow())
    monkeypatch.setattr(rerank, "progress_line", line_then_tell)
    monkeypatch.setattr(rerank, "WRITING_EVERY_S", 0.01)
    assert main(["rerank", "--query", "q", "--docs", str(docs), "--max-new-tokens", "64"]) == 0
    err = capsys.readouterr().err
    assert "[0/1] writing 1 document: 5 tokens so far (longest 5 of 64)" in err


def test_documents_sent_to_a_server_show_without_tokens_until_their_answer():
    clock = Clock()
    tracker = WritingProgress(clock)
    scope = tracker.scope()
    scope.begin(0)
    scope.begin(1)
    scope.end(0, 300)
    clock.now += 10
    assert progress_line(tracker.snapshot(), 1, 2, 10.0, 4096) == "writing 1 document · 30.0 tokens/s · about 10 s left"
