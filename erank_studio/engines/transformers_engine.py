"""The transformers engine: batched decoding with left padding, for CPU, GPU and ZeroGPU Spaces.

``model.generate`` returns a batch only when its longest member is done; the decode loop here
hands back each document the step it finishes (so the UI can stream), drops finished rows from
the batch and its KV cache, and reads each sampled token's probability from the raw logits."""
from __future__ import annotations

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
    forcing_suffix,
)
from .forcing import digit_token_ids, forced_distribution
from .tokenizers import load_model_tokenizer

DEFAULT_BATCH_SIZE = 16


def _device_and_dtype(device: str | None, dtype: str | None) -> tuple[str, torch.dtype]:
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None or dtype == "auto":
        chosen = torch.bfloat16 if device.startswith("cuda") else torch.float32
    else:
        chosen = getattr(torch, dtype)
    return device, chosen


class TransformersEngine:
    name = "transformers"

    def __init__(
        self,
        model: str,
        *,
        gguf_file: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        is_reranker: bool = True,
        warning: str | None = None,
        local_files_only: bool = False,
    ) -> None:
        self.model = model
        self.is_reranker = is_reranker
        self.warning = warning
        self.batch_size = max(1, int(batch_size))
        self.device, self.dtype = _device_and_dtype(device, dtype)
        extra: dict[str, Any] = {"local_files_only": local_files_only}
        if gguf_file:
            extra["gguf_file"] = gguf_file
        self.tokenizer, self.chat_template_source = load_model_tokenizer(model, **extra)
        self.tokenizer.padding_side = "left"
        self.hf_model = AutoModelForCausalLM.from_pretrained(model, dtype=self.dtype, **extra)
        self.hf_model.to(self.device).eval()
        self.eos_ids = self._eos_ids()
        self.pad_id = (
            self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else sorted(self.eos_ids)[0]
        )

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (self.hf_model.generation_config.eos_token_id, self.tokenizer.eos_token_id):
            if source is None:
                continue
            ids.update(source if isinstance(source, (list, tuple)) else [source])
        if not ids:
            raise ValueError(f"{self.model}: neither the tokenizer nor the model names an EOS token")
        return ids

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "model": self.model,
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
            "batch_size": self.batch_size,
        }

    # -- generation -------------------------------------------------------------------------

    def generate(
        self,
        prompts: Sequence[Prompt],
        settings: GenerationSettings,
        cancel: CancelToken | None = None,
    ) -> Iterator[Generation]:
        # Similar lengths together waste less compute on padding.
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i].text or ""))
        generator = torch.Generator(device="cpu").manual_seed(settings.seed)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            if cancel is not None and cancel.cancelled:
                for index in chunk:
                    yield Generation(index=index, text="", finish_reason=FINISH_CANCELLED, error="cancelled")
                continue
            yield from self._generate_batch(
                chunk, [prompts[i].text or "" for i in chunk], settings, cancel, generator
            )

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
        texts: list[str],
        settings: GenerationSettings,
        cancel: CancelToken | None,
        generator: torch.Generator,
    ) -> Iterator[Generation]:
        started = time.perf_counter()
        encoded = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        input_ids = encoded["input_ids"].to(self.device)
        mask = encoded["attention_mask"].to(self.device)
        prompt_tokens = mask.sum(dim=1).tolist()
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.hf_model.config)
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
        tokens: list[list[int]] = [[] for _ in indices]
        logprobs: list[list[float]] = [[] for _ in indices]
        history = input_ids
        for _step in range(settings.max_new_tokens):
            raw = torch.log_softmax(logits.float(), dim=-1)
            if settings.temperature > 0:
                warped = warpers(history, logits.float())
                probs = torch.softmax(warped, dim=-1).cpu()
                chosen = torch.multinomial(probs, 1, generator=generator).squeeze(1).to(self.device)
            else:
                chosen = raw.argmax(dim=-1)
            chosen_logprob = raw.gather(1, chosen[:, None]).squeeze(1).tolist()
            chosen_list = chosen.tolist()
            keep: list[int] = []
            for row, (member, token, lp) in enumerate(zip(rows, chosen_list, chosen_logprob)):
                if token in self.eos_ids:
                    yield self._finish(indices[member], tokens[member], logprobs[member], FINISH_STOP, prompt_tokens[member], started)
                    continue
                tokens[member].append(token)
                logprobs[member].append(lp)
                if len(tokens[member]) >= settings.max_new_tokens:
                    yield self._finish(indices[member], tokens[member], logprobs[member], FINISH_LENGTH, prompt_tokens[member], started)
                    continue
                keep.append(row)
            cancelled = cancel is not None and cancel.cancelled
            if cancelled:
                for row in keep:
                    member = rows[row]
                    done = self._finish(indices[member], tokens[member], logprobs[member], FINISH_CANCELLED, prompt_tokens[member], started)
                    done.error = "cancelled"
                    yield done
                return
            if not keep:
                return
            if len(keep) < len(rows):
                select = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(select)
                mask, chosen, next_position = mask[select], chosen[select], next_position[select]
                history = history[select]
                rows = [rows[r] for r in keep]
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            if warpers:
                history = torch.cat([history, chosen[:, None]], dim=1)
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
        return Generation(
            index=index,
            text=self.tokenizer.decode(tokens, skip_special_tokens=True),
            pieces=pieces,
            logprobs=list(logprobs),
            token_ids=list(tokens),
            finish_reason=reason,
            prompt_tokens=int(prompt_tokens),
            output_tokens=len(tokens) + (1 if reason == FINISH_STOP else 0),
            latency_s=time.perf_counter() - started,
        )

    # -- answer forcing ---------------------------------------------------------------------

    @torch.inference_mode()
    def force_scores(self, prompt: Prompt, partial_output: str) -> dict[int, float] | None:
        digits = digit_token_ids(self.tokenizer)
        if digits is None or prompt.text is None:
            return None
        context = prompt.text + partial_output + forcing_suffix(partial_output)
        ids = self.tokenizer(context, add_special_tokens=False)["input_ids"] + [digits["1"]]
        logits = self.hf_model(input_ids=torch.tensor([ids], device=self.device)).logits[0, -2:, :]
        probs = torch.softmax(logits.float(), dim=-1).cpu()
        first = {d: float(probs[0, token]) for d, token in digits.items()}
        zero_after_one = float(probs[1, digits["0"]])
        return forced_distribution(first, zero_after_one)
