"""How many documents the transformers engine decodes together.

On a GPU the batch is as large as the memory allows: each document holds a KV cache of
(prompt + new tokens) x ``kv_bytes_per_token`` plus its share of the prefill's activations and
of the vocabulary-sized logits, and the batch is what fits in a fraction of the free memory. On a
CPU memory is not the limit (compute is, and larger batches gain little there), so the fixed
default stays. Pure arithmetic, so it is tested with numbers and no GPU."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CPU_BATCH_SIZE = 16
# Share of the free memory the batch may take: the rest absorbs the allocator's fragmentation
# and the transient tensors this estimate does not count.
MEMORY_HEADROOM = 0.85
# Live fp32 copies of a row of logits in a decode step (logits, log-softmax, softmax for sampling).
LOGIT_COPIES = 3
# A batch pads every prompt to its longest. A document shorter than 1/PADDING_SPREAD of the
# batch's longest starts a new batch, so padding at most doubles a batch's prefill (its compute
# and its attention memory): one 2,048-token document no longer pads fifteen short ones to its
# length.
PADDING_SPREAD = 2.0


@dataclass(frozen=True)
class BatchPlan:
    """The chosen batch size and why, for the UI's model status and the CLI's progress line."""

    size: int
    rule: str  # "fixed", "cpu-default", "memory" or "default" (GPU memory unknown)
    detail: str

    def describe(self) -> str:
        return f"{self.size} documents a batch ({self.detail})"


def _text_config(config: Any) -> Any:
    getter = getattr(config, "get_text_config", None)
    return getter(decoder=True) if callable(getter) else config


def kv_bytes_per_token(config: Any, dtype_bytes: int) -> int:
    """Bytes of KV cache one token takes across all layers (keys and values)."""
    text = _text_config(config)
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    return 2 * text.num_hidden_layers * kv_heads * head_dim * dtype_bytes


def prefill_bytes_per_token(config: Any, dtype_bytes: int) -> int:
    """Peak activation bytes one prompt token adds while the prompt is read (one layer at a time:
    the residual stream, q/k/v/o and the gated MLP's two intermediate tensors)."""
    text = _text_config(config)
    return (4 * text.hidden_size + 2 * text.intermediate_size) * dtype_bytes


def memory_batch_size(
    config: Any,
    dtype_bytes: int,
    prompt_tokens: Sequence[int],
    max_new_tokens: int,
    free_bytes: int,
    headroom: float = MEMORY_HEADROOM,
) -> BatchPlan:
    """As many documents as fit in ``headroom`` x ``free_bytes``, sized by the longest prompt
    (documents are batched longest first, so every batch fits), at least 1, at most all."""
    longest = max(prompt_tokens, default=1)
    text = _text_config(config)
    per_document = (
        kv_bytes_per_token(config, dtype_bytes) * (longest + max_new_tokens)
        + prefill_bytes_per_token(config, dtype_bytes) * longest
        + LOGIT_COPIES * 4 * text.vocab_size
    )
    fits = int(headroom * free_bytes) // per_document
    size = max(1, min(len(prompt_tokens) or 1, fits))
    detail = (
        f"from memory: {free_bytes / 2**30:.1f} GiB free, {per_document / 2**20:.0f} MiB per document "
        f"of {longest} + {max_new_tokens} tokens"
    )
    return BatchPlan(size=size, rule="memory", detail=detail)


def length_batches(
    order: Sequence[int], lengths: Sequence[int], size: int, spread: float = PADDING_SPREAD
) -> list[list[int]]:
    """``order`` (indices into ``lengths``, longest first) cut into consecutive batches of at
    most ``size`` documents, none shorter than 1/``spread`` of its batch's first (longest)."""
    batches: list[list[int]] = []
    for index in order:
        current = batches[-1] if batches else None
        if current and len(current) < size and lengths[index] * spread >= lengths[current[0]]:
            current.append(index)
        else:
            batches.append([index])
    return batches


def fixed_batch(size: int) -> BatchPlan:
    return BatchPlan(size=max(1, int(size)), rule="fixed", detail="set by the caller")


def cpu_batch() -> BatchPlan:
    return BatchPlan(size=CPU_BATCH_SIZE, rule="cpu-default", detail="CPU default")


def unknown_memory_batch() -> BatchPlan:
    return BatchPlan(size=CPU_BATCH_SIZE, rule="default", detail="free GPU memory unknown here")


def free_cuda_bytes(device: str) -> int:
    """Free device memory, counting what PyTorch's allocator holds but no tensor uses."""
    import torch

    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
