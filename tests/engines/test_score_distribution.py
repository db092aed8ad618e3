"""The score distribution P(0..10) of a judgment on the transformers engine (tiny random Qwen3,
real tokenizer) against an independent teacher-forced computation.

A random model never writes ERank's format, so a forward hook adds a fixed bias to the logits by
the previous token (a function of the context, so the engine and the teacher-forced passes see
the same model): the greedy output becomes ``<think>ok</think><answer>N`` + EOS, while the digits
at the score (and after a "1") keep a real share of the mass, so the distribution is far from a
point mass and each P(n) is a real check."""
from __future__ import annotations

import math

import pytest
import torch

from erank_studio import judge as judge_module
from erank_studio.engines.transformers_engine import TransformersEngine
from erank_studio.prompt import DEFAULT_INSTRUCTION, build
from erank_studio.types import STATUS_OK, Document, GenerationSettings

BIG = 30.0  # the scripted next token wins the greedy choice by far
DIGIT_SHARE = 27.5  # the other digits at the score and after "1": a few percent each
DOCUMENTS = ["cats purr", "a longer document about dogs and their barking " * 4, "x"]
QUERY = "why do cats purr?"


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def scripted_rules(tokenizer, prompt_last: int, score: str) -> dict[int, dict[int, float]]:
    """prev token -> {next token: bias} that make the greedy output ``<think>ok</think><answer>``
    + score + EOS, with every digit in play at the score and after a "1"."""
    head = _ids(tokenizer, "<think>ok</think><answer>")
    digits = [_ids(tokenizer, str(d))[0] for d in range(10)]
    one, zero = digits[1], digits[0]
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    rules: dict[int, dict[int, float]] = {}
    chain = [prompt_last, *head]
    for prev, nxt in zip(chain, chain[1:]):
        rules[prev] = {nxt: BIG}
    rules[head[-1]] = {**{d: DIGIT_SHARE for d in digits}, _ids(tokenizer, score[0])[0]: BIG}
    # after "1": the digits keep a share, "0" wins for 10, EOS wins otherwise
    rules[one] = {**{d: DIGIT_SHARE for d in digits}, eos: BIG}
    if score == "10":
        rules[one][zero] = BIG + 1.0
    for d in digits:
        if d != one:
            rules[d] = {eos: BIG}
    return rules


class Scripted:
    """Adds the rules' biases to the model's logits for as long as the block lasts; rows whose
    visible input holds ``marker`` (their prompt, when it is read) also get ``detour``'s."""

    def __init__(self, model, rules: dict[int, dict[int, float]], marker: int | None = None,
                 detour: dict[int, dict[int, float]] | None = None) -> None:
        self.model, self.rules, self.marker, self.detour = model, rules, marker, detour or {}

    def __enter__(self):
        def hook(_module, args, kwargs, output):
            ids = kwargs.get("input_ids")
            if ids is None:
                ids = args[0]
            logits = output.logits
            tail = ids[:, -logits.shape[1]:]
            marked = (ids == self.marker).any(dim=1, keepdim=True) if self.marker is not None else \
                torch.zeros((ids.shape[0], 1), dtype=torch.bool, device=ids.device)
            for rules, rows in ((self.rules, torch.ones_like(marked)), (self.detour, marked)):
                for prev, bumps in rules.items():
                    hit = ((tail == prev) & rows).to(logits.dtype)
                    if bool(hit.any()):
                        for token, bias in bumps.items():
                            logits[..., token] += bias * hit
            return output

        self.handle = self.model.register_forward_hook(hook, with_kwargs=True)
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()


def teacher_forced_distribution(engine, prompt_text: str, before_score: list[int]) -> list[float]:
    """Independently of the engine: the model on prompt + output up to the score, softmax at the
    next position for the digits, and again after "1" for P("0" | "1")."""
    tok = engine.tokenizer
    digits = [_ids(tok, str(d))[0] for d in range(10)]
    context = _ids(tok, prompt_text) + before_score
    with torch.no_grad():
        first = torch.softmax(engine.hf_model(input_ids=torch.tensor([context])).logits[0, -1].double(), -1)
        after = torch.softmax(engine.hf_model(input_ids=torch.tensor([context + [digits[1]]])).logits[0, -1].double(), -1)
    p = [float(first[d]) for d in digits]
    zero_after_one = float(after[digits[0]])
    raw = p + [p[1] * zero_after_one]
    raw[1] = p[1] * (1.0 - zero_after_one)
    total = sum(raw)
    return [v / total for v in raw]


def _prompts(engine):
    return [build(QUERY, d, DEFAULT_INSTRUCTION, engine.tokenizer) for d in DOCUMENTS]


# The continuous path packs every request into one sequence, where the hook cannot tell whose
# previous token is whose: it is checked below with a scripted manager instead.
ENGINE_PATHS = {"loop": dict(prefix_reuse=False), "loop+prefix": dict(prefix_reuse=True)}


@pytest.fixture(scope="module", params=list(ENGINE_PATHS))
def engine(request, tiny_model_dir):
    # batch of 2 for 3 documents: a full batch and a batch of one, rows at several positions
    return TransformersEngine(str(tiny_model_dir), device="cpu", dtype="float32", batch_size=2,
                              **ENGINE_PATHS[request.param])


@pytest.mark.parametrize("score", ["7", "10", "1", "0"])
def test_distribution_equals_a_teacher_forced_computation(engine, score):
    prompts = _prompts(engine)
    prompt_last = _ids(engine.tokenizer, prompts[0].text)[-1]
    head = _ids(engine.tokenizer, "<think>ok</think><answer>")
    with Scripted(engine.hf_model, scripted_rules(engine.tokenizer, prompt_last, score)):
        generations = list(engine.generate(prompts, GenerationSettings(max_new_tokens=16)))
        assert sorted(g.index for g in generations) == [0, 1, 2]
        for g in generations:
            assert g.text == f"<think>ok</think><answer>{score}", g.text
            assert g.score_digits is not None
            got = judge_module.scoring.score_distribution(g.score_digits.first, g.score_digits.zero_after_one)
            want = teacher_forced_distribution(engine, prompts[g.index].text, head)
            assert abs(sum(got) - 1.0) < 1e-6
            assert got == pytest.approx(want, abs=1e-5)
            assert 0.01 < want[int(score)] < 0.99  # a real distribution, not a point mass
            assert want[10] > 1e-4 and want[1] > 1e-4  # the 1 / 10 split is checked too


def test_a_probe_row_shares_its_step_with_documents_still_writing(tiny_model_dir):
    """One document's output is one token longer (a detour token first), so its neighbours finish
    (and read P("0" | "1") as probe rows) while it still writes, in the same batch."""
    engine = TransformersEngine(str(tiny_model_dir), device="cpu", dtype="float32", batch_size=3)
    tok = engine.tokenizer
    documents = ["cats purr", "the zebra document", "x"]
    prompts = [build(QUERY, d, DEFAULT_INSTRUCTION, tok) for d in documents]
    marker = _ids(tok, " zebra")[-1]
    assert [marker in _ids(tok, p.text) for p in prompts] == [False, True, False]
    prompt_last, detour = _ids(tok, prompts[0].text)[-1], _ids(tok, "Note")[0]
    head = _ids(tok, "<think>ok</think><answer>")
    rules = {**scripted_rules(tok, prompt_last, "7"), detour: {head[0]: BIG}}
    with Scripted(engine.hf_model, rules, marker, {prompt_last: {detour: BIG + 5}}):
        generations = list(engine.generate(prompts, GenerationSettings(max_new_tokens=16)))
        assert [g.index for g in generations] == [0, 2, 1]  # the detour finishes last
        for g in generations:
            before = g.token_ids[:-1]
            assert tok.decode(before) == ("Note" if g.index == 1 else "") + "<think>ok</think><answer>"
            got = judge_module.scoring.score_distribution(g.score_digits.first, g.score_digits.zero_after_one)
            assert got == pytest.approx(teacher_forced_distribution(engine, prompts[g.index].text, before), abs=1e-5)


def test_continuous_path_reads_the_score_with_one_extra_step(tiny_model_dir, monkeypatch):
    from erank_studio.engines import continuous
    from erank_studio.engines.base import FINISH_STOP

    engine = TransformersEngine(str(tiny_model_dir), device="cpu", dtype="float32", decode="continuous")
    prompts = _prompts(engine)
    head = _ids(engine.tokenizer, "<think>ok</think><answer>")
    written = head + _ids(engine.tokenizer, "7")

    def scripted_manager(_model, requests, _max_new, _eos, _pad, _batch, _cancel, finish):
        # what the manager hands back: the tokens, and logprobs of the sampled tokens only
        for index, _ids_ in requests:
            yield finish(index, list(written), [-0.1] * len(written), FINISH_STOP, len(_ids_), 0.0)

    monkeypatch.setattr(continuous, "generate_continuous", scripted_manager)
    prompt_last = _ids(engine.tokenizer, prompts[0].text)[-1]
    with Scripted(engine.hf_model, scripted_rules(engine.tokenizer, prompt_last, "7")):
        for g in engine.generate(prompts, GenerationSettings(max_new_tokens=16)):
            assert g.score_digits is not None
            got = judge_module.scoring.score_distribution(g.score_digits.first, g.score_digits.zero_after_one)
            assert got == pytest.approx(teacher_forced_distribution(engine, prompts[g.index].text, head), abs=1e-5)


def test_judgments_carry_the_distribution_its_mean_and_entropy(tiny_model_dir):
    engine = TransformersEngine(str(tiny_model_dir), device="cpu", dtype="float32", batch_size=4)
    prompts = _prompts(engine)
    prompt_last = _ids(engine.tokenizer, prompts[0].text)[-1]
    documents = [Document(f"d{i}", text, first_stage_score=float(i)) for i, text in enumerate(DOCUMENTS)]
    with Scripted(engine.hf_model, scripted_rules(engine.tokenizer, prompt_last, "10")):
        judged = list(judge_module.judge(engine, QUERY, documents, DEFAULT_INSTRUCTION,
                                         settings=GenerationSettings(max_new_tokens=16)))
    for j in judged:
        assert j.status == STATUS_OK and j.score == 10
        dist = j.score_distribution
        assert dist is not None and len(dist) == 11 and abs(sum(dist) - 1.0) < 1e-6
        assert j.expected_score == pytest.approx(sum(n * p for n, p in enumerate(dist)), abs=1e-9)
        assert j.score_entropy == pytest.approx(-sum(p * math.log2(p) for p in dist if p > 0), abs=1e-9)
        # P(N) stays the emitted tokens' joint probability (ERank's rank_score is unchanged)
        assert j.rank_score == pytest.approx(10 * j.probability)


def test_no_distribution_without_a_parsable_score(tiny_engine):
    prompts = _prompts(tiny_engine)
    judged = list(judge_module.judge(tiny_engine, QUERY, [Document("d", DOCUMENTS[0], first_stage_score=1.0)],
                                     DEFAULT_INSTRUCTION, settings=GenerationSettings(max_new_tokens=4)))
    assert prompts and judged[0].score_distribution is None and judged[0].expected_score is None
