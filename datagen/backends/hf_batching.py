"""Batching and sampling shared by the transformers backends (Phi-4-multimodal, local causal LMs).

One place for: device/dtype resolution, length-sorted batches, per-batch seeding, n samples per request, and the
one-by-one fallback that keeps a failing item from sinking its batch.

Determinism: each batch runs under its own RNG seed derived from (`Sampling.seed`, the batch's first row), inside
`torch.random.fork_rng`, so the caller's global RNG is untouched. The same call (same requests, `n`, batch size,
seed, device and dtype) gives the same strings. Greedy decoding does not depend on batch composition (batched ==
one-by-one up to float rounding of padded attention); sampled text does, because the rows of a batch share the
random stream.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from datagen.backends.base import Completion, Sampling

log = logging.getLogger(__name__)

T = TypeVar("T")


def resolve_device(device: str, cuda_available: bool) -> str:
    """'auto' → 'cuda' when a GPU is visible, else 'cpu'; an explicit CUDA device without a GPU is an error."""
    if device == "auto":
        return "cuda" if cuda_available else "cpu"
    if device.startswith("cuda") and not cuda_available:
        raise ValueError(f"device {device!r} requested but CUDA is not available (use device: cpu or auto)")
    return device


def resolve_dtype(dtype: str, device: str, bf16_supported: bool) -> str:
    """'auto' → bfloat16 on a GPU that supports it, float16 on other GPUs, float32 on the CPU (half is slow there)."""
    if dtype != "auto":
        return dtype
    if device.startswith("cuda"):
        return "bfloat16" if bf16_supported else "float16"
    return "float32"


def torch_device_and_dtype(device: str, dtype: str) -> tuple[str, Any]:
    """Both resolved against the torch build at hand (the only place that asks torch about CUDA)."""
    import torch

    cuda = torch.cuda.is_available()
    resolved = resolve_device(device, cuda)
    bf16 = cuda and resolved.startswith("cuda") and torch.cuda.is_bf16_supported()
    return resolved, getattr(torch, resolve_dtype(dtype, resolved, bf16))


def plan_batches(lengths: Sequence[int], batch_size: int, groups: Sequence[Hashable] | None = None) -> list[list[int]]:
    """Indices sorted by length (stable), cut into batches: similar lengths together means little padding.

    Rows of different `groups` never share a batch (Phi-4 projects audio differently when a batch holds images).
    """
    keys = groups if groups is not None else [0] * len(lengths)
    batches: list[list[int]] = []
    for key in dict.fromkeys(keys):
        order = sorted((i for i in range(len(lengths)) if keys[i] == key), key=lambda i: lengths[i])
        batches.extend(order[i : i + batch_size] for i in range(0, len(order), batch_size))
    return batches


def batch_seed(seed: int, first_row: int) -> int:
    """A well-mixed 63-bit seed per batch, so neighbouring batches don't get correlated streams."""
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, first_row]).generate_state(2, np.uint32).view(np.uint64)[0])


@contextlib.contextmanager
def seeded(seed: int, device: str) -> Iterator[None]:
    """Seed torch's RNG (CPU and, on a GPU, that device) for one block, restoring the caller's state after."""
    import torch

    devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def generate_kwargs(sampling: Sampling) -> dict[str, Any]:
    """transformers `generate()` options: temperature 0 means greedy (sampling flags would only warn there)."""
    if sampling.temperature <= 0:
        return {"do_sample": False, "max_new_tokens": sampling.max_new_tokens}
    return {
        "do_sample": True,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": 0,
        "max_new_tokens": sampling.max_new_tokens,
    }


def completions(texts: Sequence[str], new_ids: Any, eos_ids: Any, max_new_tokens: int) -> list[Completion]:
    """Decoded texts (stripped) as `Completion`s: "length" when a row holds no end-of-sequence token and
    `max_new_tokens` were generated (cut off), else "stop". `new_ids` are the generated ids only (batch x steps)."""
    import torch

    eos = [eos_ids] if isinstance(eos_ids, int) else [int(e) for e in (eos_ids or [])]
    ended = torch.isin(new_ids, torch.tensor(eos, device=new_ids.device)).any(dim=-1).tolist()
    full = new_ids.shape[-1] >= max_new_tokens
    return [
        Completion(text.strip(), "length" if full and not stop else "stop")
        for text, stop in zip(texts, ended, strict=True)
    ]


def generate_completions(model: Any, tokenizer: Any, inputs: Any, sampling: Sampling) -> list[Completion]:
    """`model.generate` on a left-padded batch, decoding only the new tokens; the end-of-sequence ids that mark a
    "stop" are the model's generation config's, else the tokenizer's."""
    import torch

    with torch.inference_mode():
        out = model.generate(**inputs, **generate_kwargs(sampling), pad_token_id=tokenizer.pad_token_id)
    new = out[:, inputs["input_ids"].shape[1] :]
    texts = tokenizer.batch_decode(new, skip_special_tokens=True)
    eos = model.generation_config.eos_token_id
    return completions(texts, new, eos if eos is not None else tokenizer.eos_token_id, sampling.max_new_tokens)


@dataclass(slots=True, frozen=True)
class Row:
    """One generation: request `item` (an index into the caller's requests), copy `k` of its n samples."""

    item: int
    k: int


def run_batched(
    prepared: Sequence[T | None],
    lengths: Sequence[int],
    run_batch: Callable[[list[T]], list[str]],
    *,
    n: int,
    greedy: bool,
    batch_size: int,
    seed: int,
    device: str,
    label: str,
    groups: Sequence[Hashable] | None = None,
) -> list[list[str] | None]:
    """n strings per prepared request (None where preparing or generating it failed), in the requests' order.

    Greedy requests are generated once and copied n times (the copies would be identical); sampled ones become n
    rows each. A batch that raises is retried row by row, so only the rows that fail on their own are lost.
    """
    copies = 1 if greedy else n
    rows = [Row(i, k) for i, p in enumerate(prepared) if p is not None for k in range(copies)]
    texts: dict[Row, str | None] = {}
    row_groups = None if groups is None else [groups[r.item] for r in rows]
    for batch in plan_batches([lengths[r.item] for r in rows], batch_size, row_groups):
        members = [rows[j] for j in batch]
        inputs: list[T] = [prepared[r.item] for r in members]  # type: ignore[misc]
        try:
            with seeded(batch_seed(seed, batch[0]), device):
                outputs = run_batch(inputs)
            texts.update(zip(members, outputs, strict=True))
            continue
        except Exception as exc:  # broad on purpose: any item may break a batch; retry alone to find which
            if len(members) == 1:
                log.error("%s: request %d failed: %s: %s", label, members[0].item, type(exc).__name__, exc)
                texts[members[0]] = None
                continue
            log.warning("%s: batch of %d failed (%s); retrying one by one", label, len(members), exc)
        for j, row in zip(batch, members, strict=True):
            try:
                with seeded(batch_seed(seed, j), device):
                    texts[row] = run_batch([prepared[row.item]])[0]  # type: ignore[list-item]
            except Exception as exc:
                log.error("%s: request %d failed: %s: %s", label, row.item, type(exc).__name__, exc)
                texts[row] = None
    out: list[list[str] | None] = []
    for i, p in enumerate(prepared):
        got = [texts.get(Row(i, k)) for k in range(copies)] if p is not None else [None]
        if any(t is None for t in got):
            out.append(None)
        else:
            out.append([t for t in got if t is not None] * (n if greedy else 1))
    return out


def prepare_each(items: Sequence[Any], prepare: Callable[[Any], T], label: str) -> list[T | None]:
    """`prepare` per item (decode images, resample audio, render prompts); an item that raises becomes None."""
    out: list[T | None] = []
    for i, item in enumerate(items):
        try:
            out.append(prepare(item))
        except Exception as exc:  # broad on purpose: bad input (unreadable image, bad audio) must not sink the batch
            log.error("%s: request %d cannot be prepared: %s: %s", label, i, type(exc).__name__, exc)
            out.append(None)
    return out
