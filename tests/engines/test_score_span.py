"""P(N) is read on the parser's own span (issue 20, 3): an output holding a character Qwen writes as
several byte tokens (U+1D518) and an unclosed ``<answer>9`` after the last closed answer. The parser
chooses 7; P(N) must be the probability of the tokens that wrote that 7, which a teacher-forced
pass of the same model gives. A forward hook makes the tiny Qwen3 write the output: at each
position it lifts the wanted token above the rest by a margin, so the model's own (hooked)
distribution is what both the engine and the teacher-forced pass read."""
from __future__ import annotations

import math

import pytest

from erank_studio import judge, parse
from erank_studio.engines.token_spans import byte_spans, decoded_spans
from erank_studio.types import Document, GenerationSettings

OUTPUT = "<think>It is about \U0001D518 here.</think><answer>7</answer> more <answer>9"
MARGIN = {"7": 14.0, "9": 11.0}  # how far above the rest the score digits are lifted
OTHER_MARGIN = 25.0


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    from erank_studio.engines.transformers_engine import TransformersEngine

    return TransformersEngine(str(tiny_model_dir), device="cpu", dtype="float32", batch_size=1)


def _force(engine, forced: list[int], margins: list[float]):
    """Hook the model so that, after a prompt, it writes ``forced`` then its end of turn."""
    state: dict[str, int] = {}
    eos = sorted(engine.eos_ids)[0]

    def hook(module, args, kwargs, output):
        logits = output.logits
        positions = kwargs["position_ids"][:, -logits.shape[1]:]
        if "prompt_len" not in state:
            state["prompt_len"] = int(positions[0, -1]) + 1
        for b in range(logits.shape[0]):
            for col in range(logits.shape[1]):
                step = int(positions[b, col]) - state["prompt_len"] + 1
                if step < 0:
                    continue
                token, margin = (forced[step], margins[step]) if step < len(forced) else (eos, OTHER_MARGIN)
                logits[b, col, token] = logits[b, col].max() + margin
        return output

    return state, engine.hf_model.register_forward_hook(hook, with_kwargs=True)


def test_p_of_n_is_read_from_the_tokens_that_wrote_the_chosen_answer(engine):
    import torch

    tokenizer = engine.tokenizer
    forced = tokenizer(OUTPUT, add_special_tokens=False)["input_ids"]
    pieces = tokenizer.batch_decode([[t] for t in forced])
    assert "".join(pieces) != OUTPUT, "the case needs a character written as several byte tokens"
    seven, nine = pieces.index("7"), len(pieces) - 1
    assert pieces[nine] == "9"
    margins = [MARGIN.get(p, OTHER_MARGIN) if i in (seven, nine) else OTHER_MARGIN for i, p in enumerate(pieces)]

    state, handle = _force(engine, forced, margins)
    try:
        settings = GenerationSettings(max_new_tokens=len(forced) + 4)
        (judgment,) = judge.judge(engine, "q", [Document("a", "a document")], "instr", 512, settings)
        assert judgment.raw_output == OUTPUT and judgment.score == 7

        # Teacher forcing: the same (hooked) model over the prompt and the output in one pass.
        built = judge.build_prompts(engine, "q", [Document("a", "a document")], "instr", 512)[0]
        prompt_ids = tokenizer(built.text, add_special_tokens=False)["input_ids"]
        assert state["prompt_len"] == len(prompt_ids)
        ids = torch.tensor([prompt_ids + forced])
        with torch.inference_mode():
            logits = engine.hf_model(input_ids=ids, position_ids=torch.arange(ids.shape[1])[None]).logits[0]
        logp = torch.log_softmax(logits.float(), dim=-1)

        def forced_p(step: int) -> float:
            return math.exp(float(logp[len(prompt_ids) - 1 + step, forced[step]]))
    finally:
        handle.remove()

    assert abs(judgment.probability - forced_p(seven)) < 1e-5
    assert abs(forced_p(seven) - forced_p(nine)) > 0.1, "the two answers' probabilities must differ"
    assert judgment.rank_score == pytest.approx(7 * forced_p(seven), abs=1e-4)
    assert judgment.score_distribution is not None, "the distribution is read at the chosen answer"
    assert judgment.score_distribution[7] == max(judgment.score_distribution)


def test_spans_place_byte_tokens_on_their_character(qwen3_tokenizer):
    ids = qwen3_tokenizer(OUTPUT, add_special_tokens=False)["input_ids"]
    spans = decoded_spans(qwen3_tokenizer, ids, OUTPUT)
    texts = [OUTPUT[a:b] for a, b in spans]
    assert sum(1 for t in texts if "\U0001D518" in t) >= 2, "the byte tokens all cover the one character"
    span = parse.parse_output(OUTPUT).score_span
    assert [OUTPUT[a:b] for a, b in spans if b > span[0] and a < span[1]] == ["7"]
    # The same from the tokens' bytes (what an OpenAI-compatible server returns): the character
    # cut into byte tokens is covered by each of them.
    data = OUTPUT.encode()
    char = OUTPUT.index("\U0001D518")
    cut = len(OUTPUT[:char].encode())
    chunks = [data[:cut + 1], data[cut + 1:cut + 3], data[cut + 3:]]
    assert byte_spans(chunks, OUTPUT) == [(0, char + 1), (char, char + 1), (char, len(OUTPUT))]
    assert byte_spans([data[:-1]], OUTPUT) is None, "bytes that do not spell the output give no spans"
