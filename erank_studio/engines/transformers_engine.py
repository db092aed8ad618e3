"""The transformers engine: batched decoding for CPU, GPU and ZeroGPU Spaces.

``model.generate`` returns a batch only when its longest member is done; the decode loop here
hands back each document the step it finishes (so the UI can stream), drops finished rows from
the batch and its KV cache, and reads each sampled token's probability from the raw logits.

Every prompt of a query begins with the same tokens (chat template head, instruction, query):
that shared prefix is read once per request and its KV cache copied into every batch, so only
each document's own tokens are read per document. Prompts are laid out as
``prefix | padding | document tokens`` with the padding masked, which gives the same logits as
reading each prompt alone.

Paths: ``decode="loop"`` (the loop here; the default everywhere, because it is the fastest
measured on a CPU and no GPU figures exist yet: see bench/bench_gpu_throughput.py) or
``decode="continuous"`` (transformers' continuous batching, greedy only, see continuous.py)."""
from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers import AutoModelForCausalLM, DynamicCache
from transformers.generation.logits_process import (
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from ..prompt import Prompt
from ..types import GenerationSettings
from .base import (
    FINISH_CANCELLED,
    FINISH_LENGTH,
    FINISH_STOP,
    CancelToken,
    Generation,
    ScoreDigits,
    forcing_suffix,
)
from .batching import (
    BatchPlan,
    cpu_batch,
    fixed_batch,
    free_cuda_bytes,
    length_batches,
    memory_batch_size,
    unknown_memory_batch,
)
from .forcing import DIGITS, digit_token_ids, forced_distribution
from .score_reading import Probe, StepDigits, read_score_digits
from .token_spans import decoded_spans
from .tokenizers import ensure_chat_template, load_model_tokenizer
from .writing import REPORT_EVERY_STEPS, writing_of

DECODE_PATHS = ("auto", "loop", "continuous")


def _device_and_dtype(device: str | None, dtype: str | None) -> tuple[str, torch.dtype]:
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None or dtype == "auto":
        chosen = torch.bfloat16 if device.startswith("cuda") else torch.float32
    else:
        chosen = getattr(torch, dtype)
    return device, chosen


def _check_decode(decode: str) -> None:
    if decode not in DECODE_PATHS:
        raise ValueError(f"decode must be one of {', '.join(DECODE_PATHS)}, not {decode!r}")


def shared_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Tokens every sequence begins with, leaving each at least one token of its own (whose
    logits start the generation)."""
    if len(sequences) < 2:
        return 0
    first = sequences[0]
    limit = min(len(s) for s in sequences) - 1
    length = 0
    while length < limit and all(s[length] == first[length] for s in sequences):
        length += 1
    return length


class TransformersEngine:
    name = "transformers"

    def __init__(
        self,
        model: str,
        *,
        gguf_file: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int | None = None,
        decode: str = "auto",
        prefix_reuse: bool = True,
        is_reranker: bool = True,
        warning: str | None = None,
        local_files_only: bool = False,
    ) -> None:
        _check_decode(decode)  # before minutes of loading
        extra: dict[str, Any] = {"local_files_only": local_files_only}
        if gguf_file:
            extra["gguf_file"] = gguf_file
        chosen_device, chosen_dtype = _device_and_dtype(device, dtype)
        tokenizer, template_source = load_model_tokenizer(model, **extra)
        hf_model = AutoModelForCausalLM.from_pretrained(model, dtype=chosen_dtype, **extra)
        self._setup(
            model, hf_model.to(chosen_device), tokenizer, batch_size=batch_size, decode=decode,
            prefix_reuse=prefix_reuse, is_reranker=is_reranker, warning=warning,
            chat_template_source=template_source,
        )

    @classmethod
    def from_loaded(cls, name: str, hf_model: Any, tokenizer: Any, **options: Any) -> "TransformersEngine":
        """An engine around a model already in memory (e.g. a benchmark's random-weight model
        built on the GPU, which would take minutes to save and load)."""
        engine = cls.__new__(cls)
        engine._setup(name, hf_model, tokenizer, **options)
        return engine

    def _setup(
        self,
        model: str,
        hf_model: Any,
        tokenizer: Any,
        *,
        batch_size: int | None = None,
        decode: str = "auto",
        prefix_reuse: bool = True,
        is_reranker: bool = True,
        warning: str | None = None,
        chat_template_source: str | None = None,
    ) -> None:
        _check_decode(decode)
        self.model = model
        self.is_reranker = is_reranker
        self.warning = warning
        self.decode = decode
        self.prefix_reuse = prefix_reuse
        self._fixed_batch = None if batch_size is None else max(1, int(batch_size))
        self.hf_model = hf_model.eval()
        self.device, self.dtype = str(hf_model.device), hf_model.dtype
        self.tokenizer = tokenizer
        self.chat_template_source = ensure_chat_template(tokenizer) if chat_template_source is None else chat_template_source
        self.tokenizer.padding_side = "left"
        self.eos_ids = self._eos_ids()
        # The digit tokens whose probabilities every decoding step records (ten columns of the
        # step's log-softmax), for the score distribution; None when digits are not single tokens.
        self._digits = digit_token_ids(self.tokenizer)
        self._digit_columns = (
            None if self._digits is None
            else torch.tensor([self._digits[d] for d in DIGITS], device=self.device)
        )
        self.pad_id = (
            self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else sorted(self.eos_ids)[0]
        )
        # Until a request sizes it, the plan for a typical query: 100 prompts of 1,024 tokens.
        self.batch_plan = self.plan_batch([1024] * 100, GenerationSettings().max_new_tokens)

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (self.hf_model.generation_config.eos_token_id, self.tokenizer.eos_token_id):
            if source is None:
                continue
            ids.update(source if isinstance(source, (list, tuple)) else [source])
        if not ids:
            raise ValueError(f"{self.model}: neither the tokenizer nor the model names an EOS token")
        return ids

    @property
    def batch_size(self) -> int:
        """Documents per batch of the latest request (or, before one, of a typical one)."""
        return self.batch_plan.size

    @property
    def batch_description(self) -> str:
        return self.batch_plan.describe()

    def plan_batch(self, prompt_tokens: Sequence[int], max_new_tokens: int) -> BatchPlan:
        """The batch size for prompts of these lengths: the caller's if it set one, the CPU
        default on a CPU, as many as the free memory holds on a GPU."""
        if self._fixed_batch is not None:
            return fixed_batch(self._fixed_batch)
        if not self.device.startswith("cuda"):
            return cpu_batch()
        try:
            free = free_cuda_bytes(self.device)
        except RuntimeError:  # e.g. ZeroGPU outside a GPU lease: no device to ask
            return unknown_memory_batch()
        return memory_batch_size(
            self.hf_model.config, torch.finfo(self.dtype).bits // 8, prompt_tokens, max_new_tokens, free,
        )

    def decode_path(self, settings: GenerationSettings) -> str:
        """The path a request takes: the caller's choice, or the loop (fastest measured)."""
        if self.decode == "continuous" and settings.temperature == 0:
            return "continuous"
        return "loop"

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "model": self.model,
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
            "batch_size": self.batch_size,
            "batch": self.batch_description,
            "decode": self.decode,
            "prefix_reuse": self.prefix_reuse,
        }

    # -- generation -------------------------------------------------------------------------

    def generate(
        self,
        prompts: Sequence[Prompt],
        settings: GenerationSettings,
        cancel: CancelToken | None = None,
    ) -> Iterator[Generation]:
        if not prompts:
            return
        ids = self.tokenizer([p.text or "" for p in prompts], add_special_tokens=False)["input_ids"]
        # Longest first: similar lengths share a batch (less padding) and every batch fits the
        # memory plan made for the longest.
        order = sorted(range(len(prompts)), key=lambda i: -len(ids[i]))
        self.batch_plan = self.plan_batch([len(i) for i in ids], settings.max_new_tokens)
        if self.decode_path(settings) == "continuous":
            from .continuous import generate_continuous

            for generation in generate_continuous(
                self.hf_model, [(i, ids[i]) for i in order], settings.max_new_tokens, self.eos_ids,
                self.pad_id, self.batch_size, cancel, self._finish,
            ):
                # transformers' manager reports only the sampled tokens' logprobs: the digits
                # at the score come from the extra step alone.
                prompt_ids = ids[generation.index]
                generation.score_digits = self._score_digits(
                    generation, lambda _k: None,
                    lambda k, _first, g=generation, p=prompt_ids: self._digits_after(p + g.token_ids[:k]),
                )
                yield generation
            return
        prefix = shared_prefix_length(ids) if self.prefix_reuse else 0
        prefix_kv = self._read_prefix(ids[0][:prefix]) if prefix else None
        generator = torch.Generator(device="cpu").manual_seed(settings.seed)
        for chunk in length_batches(order, [len(i) - prefix for i in ids], self.batch_size):
            if cancel is not None and cancel.cancelled:
                for index in chunk:
                    yield Generation(index=index, text="", finish_reason=FINISH_CANCELLED, error="cancelled")
                continue
            yield from self._generate_batch(
                chunk, [ids[i][prefix:] for i in chunk], prefix, prefix_kv, settings, cancel, generator
            )

    @torch.inference_mode()
    def _read_prefix(self, prefix_ids: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The shared prefix's keys and values per layer (batch of one)."""
        cache = DynamicCache(config=self.hf_model.config)
        self.hf_model(
            input_ids=torch.tensor([prefix_ids], device=self.device),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _start_cache(self, prefix_kv: list[tuple[torch.Tensor, torch.Tensor]] | None, rows: int) -> DynamicCache:
        cache = DynamicCache(config=self.hf_model.config)
        for layer, (keys, values) in enumerate(prefix_kv or []):
            cache.update(keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1), layer)
        return cache

    def _warpers(self, settings: GenerationSettings) -> LogitsProcessorList:
        warpers = LogitsProcessorList()
        if settings.temperature > 0:
            warpers.append(TemperatureLogitsWarper(settings.temperature))
            if settings.top_p < 1.0:
                warpers.append(TopPLogitsWarper(settings.top_p))
        return warpers

    @torch.inference_mode()
    def _generate_batch(
        self,
        indices: list[int],
        own_ids: list[list[int]],
        prefix: int,
        prefix_kv: list[tuple[torch.Tensor, torch.Tensor]] | None,
        settings: GenerationSettings,
        cancel: CancelToken | None,
        generator: torch.Generator,
    ) -> Iterator[Generation]:
        started = time.perf_counter()
        width = max(len(i) for i in own_ids)
        input_ids = torch.tensor(
            [[self.pad_id] * (width - len(i)) + i for i in own_ids], device=self.device
        )
        own_mask = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in own_ids], device=self.device)
        mask = torch.cat([own_mask.new_ones((len(own_ids), prefix)), own_mask], dim=1)
        prompt_tokens = [prefix + len(i) for i in own_ids]
        positions = prefix + (own_mask.cumsum(-1) - 1).clamp(min=0)
        cache = self._start_cache(prefix_kv, len(own_ids))
        logits = self.hf_model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,  # the prompt's other positions' logits are never read
        ).logits[:, -1, :]
        next_position = positions[:, -1:] + 1
        warpers = self._warpers(settings)
        rows = list(range(len(indices)))  # batch row -> position in `indices`
        writing = writing_of(cancel)
        writing.begin(*indices)
        step = 0
        tokens: list[list[int]] = [[] for _ in indices]
        logprobs: list[list[float]] = [[] for _ in indices]
        # Each step's log-probabilities of the ten digit tokens, per document (10 floats a token:
        # the score distribution is read from the step where the score was written).
        digit_logprobs: list[list[list[float]]] = [[] for _ in indices]
        width_all = mask.shape[1]  # cache columns before the first generated token
        # A finished document whose P("0" | "1") at its score is still needed stays in the batch
        # for one more step as a probe: its row reads "1" at the score's position with the cache
        # columns from the score on masked out. member -> (its generation, the digits at the score)
        probing: dict[int, tuple[Generation, dict[str, float]]] = {}
        while True:  # every row ends by max_new_tokens, a probe row one step later
            raw = torch.log_softmax(logits.float(), dim=-1)
            if settings.temperature > 0:
                # Temperature and top-p read only the scores, never the ids they are given.
                warped = warpers(input_ids, logits.float())
                probs = torch.softmax(warped, dim=-1).cpu()
                chosen = torch.multinomial(probs, 1, generator=generator).squeeze(1).to(self.device)
            else:
                chosen = raw.argmax(dim=-1)
            picked = raw.gather(1, chosen[:, None])
            if self._digit_columns is not None:  # one small copy a step: chosen + ten digits
                picked = torch.cat([picked, raw.index_select(1, self._digit_columns)], dim=1)
            picked_rows = picked.tolist()
            chosen_list = chosen.tolist()
            keep: list[int] = []
            probes: dict[int, tuple[int, int]] = {}  # member -> (score position, cache columns kept)
            for row, (member, token, values) in enumerate(zip(rows, chosen_list, picked_rows)):
                if member in probing:  # this row read "1" at the score: values[1] is log P("0")
                    done, first = probing.pop(member)
                    done.score_digits = ScoreDigits(first, math.exp(values[1]))
                    yield done
                    continue
                if token in self.eos_ids:
                    reason = FINISH_STOP
                else:
                    tokens[member].append(token)
                    logprobs[member].append(values[0])
                    digit_logprobs[member].append(values[1:])
                    if len(tokens[member]) < settings.max_new_tokens:
                        keep.append(row)
                        continue
                    reason = FINISH_LENGTH
                done = self._finish(indices[member], tokens[member], logprobs[member], reason, prompt_tokens[member], started)
                steps = digit_logprobs[member]
                asked: list[tuple[int, dict[str, float] | None]] = []
                done.score_digits = self._score_digits(
                    done, lambda k, steps=steps: dict(zip(DIGITS, map(math.exp, steps[k]))) if steps[k] else None,
                    lambda k, first, asked=asked: asked.append((k, first)),  # answered by a probe row
                )
                if asked and asked[0][1] is not None:
                    k, first = asked[0]
                    probing[member] = (done, first)
                    probes[member] = (prompt_tokens[member] + k, width_all + k)
                    keep.append(row)
                    continue
                yield done
            if cancel is not None and cancel.cancelled:
                for row in keep:
                    member = rows[row]
                    if member in probing:  # finished: handed back without its distribution
                        yield probing.pop(member)[0]
                        continue
                    done = self._finish(indices[member], tokens[member], logprobs[member], FINISH_CANCELLED, prompt_tokens[member], started)
                    done.error = "cancelled"
                    yield done
                return
            if not keep:
                return
            step += 1
            if step % REPORT_EVERY_STEPS == 0:
                writing.tokens({indices[rows[row]]: len(tokens[rows[row]]) for row in keep})
            if len(keep) < len(rows):
                select = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(select)
                mask, chosen, next_position = mask[select], chosen[select], next_position[select]
                input_ids = input_ids[select]
                rows = [rows[r] for r in keep]
            for row, member in enumerate(rows):
                if member in probes:
                    position, columns = probes[member]
                    chosen[row] = self._digits["1"]  # type: ignore[index]
                    next_position[row, 0] = position
                    mask[row, columns:] = 0
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            logits = self.hf_model(
                input_ids=chosen[:, None],
                attention_mask=mask,
                position_ids=next_position,
                past_key_values=cache,
                use_cache=True,
            ).logits[:, -1, :]
            next_position = next_position + 1

    def _finish(
        self,
        index: int,
        tokens: list[int],
        logprobs: list[float],
        reason: str,
        prompt_tokens: int,
        started: float,
    ) -> Generation:
        pieces = self.tokenizer.batch_decode([[t] for t in tokens]) if tokens else []
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        return Generation(
            index=index,
            text=text,
            pieces=pieces,
            spans=decoded_spans(self.tokenizer, tokens, text),
            logprobs=list(logprobs),
            token_ids=list(tokens),
            finish_reason=reason,
            prompt_tokens=int(prompt_tokens),
            output_tokens=len(tokens) + (1 if reason == FINISH_STOP else 0),
            latency_s=time.perf_counter() - started,
        )

    # -- the score's digits and answer forcing ------------------------------------------------

    def _score_digits(self, generation: Generation, at_step: StepDigits, probe: Probe) -> ScoreDigits | None:
        if self._digits is None or generation.finish_reason not in (FINISH_STOP, FINISH_LENGTH):
            return None
        return read_score_digits(generation.pieces, generation.text, generation.finish_reason, at_step, probe,
                                 generation.spans)

    @torch.inference_mode()
    def _digits_after(self, context_ids: list[int]) -> ScoreDigits | None:
        """P(digit) of the next token after ``context_ids`` and P("0") after a "1" there, from one
        forward pass over the context + "1"."""
        if self._digits is None:
            return None
        ids = list(context_ids) + [self._digits["1"]]
        logits = self.hf_model(input_ids=torch.tensor([ids], device=self.device), logits_to_keep=2).logits[0, -2:, :]
        probs = torch.softmax(logits.float(), dim=-1).cpu()
        first = {d: float(probs[0, token]) for d, token in self._digits.items()}
        return ScoreDigits(first, float(probs[1, self._digits["0"]]))

    def force_scores(self, prompt: Prompt, partial_output: str) -> dict[int, float] | None:
        if self._digits is None or prompt.text is None:
            return None
        context = prompt.text + partial_output + forcing_suffix(partial_output)
        read = self._digits_after(self.tokenizer(context, add_special_tokens=False)["input_ids"])
        return None if read is None else forced_distribution(read.first, read.zero_after_one)
