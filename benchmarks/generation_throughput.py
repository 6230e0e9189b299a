"""Generation throughput of the Phi-4 backend: tokens/s batched vs batch-1 on the same prompts.

    python benchmarks/generation_throughput.py                          # tiny random Phi-4, CPU (seconds)
    python benchmarks/generation_throughput.py --inputs audio           # ASR-style prompts (audio clip + question)
    python benchmarks/generation_throughput.py --config full --device cuda --prompts 64 --batch-size 16

`--config full` builds the full-size Phi-4-multimodal architecture (5.3 B parameters) with random weights on the
device: nothing is downloaded, and random weights cost the same FLOPs as trained ones. Every request decodes exactly
`--max-new-tokens` tokens (eos is ignored), so batched and batch-1 runs do the same work. Requests go through
`Phi4Backend.generate` (processor, length-sorted left-padded batches, seeding), as in a pipeline run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from datagen.backends.base import ChatTurn, Sampling
from datagen.backends.phi4 import Phi4Backend, Phi4Settings
from datagen.records import Audio

QUESTIONS = [
    "How many red circles are in the picture?",
    "Describe the image in one sentence.",
    "What colour is the square on the left, and is it larger than the triangle next to it?",
    "Answer with a number.",
    "Is there a blue shape above the green one? Explain briefly.",
    "What is the largest shape?",
]


def tiny_backend(device: str, dtype: str) -> Phi4Backend:
    """The tiny random model, saved and loaded through the backend's real `from_pretrained` path."""
    from datagen.tiny_models import build_tiny_phi4

    path = build_tiny_phi4(Path(tempfile.mkdtemp(prefix="phi4-bench-")) / "tiny")
    backend = Phi4Backend(Phi4Settings(model=str(path), revision=None, device=device, dtype=dtype))
    backend.setup()
    return backend


def full_backend(device: str, dtype: str) -> Phi4Backend:
    """Full-size Phi-4-multimodal with random weights built on the device, with the in-process tokenizer's ids."""
    import torch
    from transformers import Phi4MultimodalForCausalLM

    from datagen.backends.hf_batching import torch_device_and_dtype
    from datagen.tiny_models import PHI4_SPECIAL, full_phi4_config, phi4_processor, train_bpe

    processor = phi4_processor(train_bpe(PHI4_SPECIAL))
    tok = processor.tokenizer
    config = full_phi4_config()
    config.pad_token_id, config.bos_token_id, config.eos_token_id = (
        tok.pad_token_id,
        tok.bos_token_id,
        [tok.eos_token_id],
    )
    config.vision_config.image_token_id = tok.image_token_id
    config.audio_config.audio_token_id = tok.audio_token_id
    resolved, torch_dtype = torch_device_and_dtype(device, dtype)
    with torch.device(resolved):
        model = Phi4MultimodalForCausalLM._from_config(config, dtype=torch_dtype).eval()
    backend = Phi4Backend(Phi4Settings(device=device, dtype=dtype))
    backend._model, backend._processor, backend._device, backend._dtype = model, processor, resolved, torch_dtype
    backend._ready = True  # weights are the random ones above: skip from_pretrained
    return backend


def conversations(n: int, inputs: str) -> list[list[ChatTurn]]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        question = QUESTIONS[i % len(QUESTIONS)]
        if inputs == "audio":
            seconds = 1.0 + (i % 4)  # varied lengths, as real spoken queries
            wave = (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)
            out.append([ChatTurn("user", f"<audio>{question}", audios=(Audio(wave, 16000),))])
        else:
            out.append([ChatTurn("user", question * (1 + i % 3))])
    return out


def count_tokens(backend: Phi4Backend, max_new_tokens: int) -> dict[str, int]:
    """Wrap the model's generate(): force exactly `max_new_tokens` per row and count the rows' new tokens."""
    model = backend._model
    real = model.generate
    counter = {"tokens": 0, "calls": 0}

    def generate(**kwargs: Any) -> Any:
        kwargs["min_new_tokens"] = max_new_tokens
        out = real(**kwargs)
        counter["tokens"] += int(out[:, kwargs["input_ids"].shape[1] :].numel())
        counter["calls"] += 1
        return out

    model.generate = generate
    return counter


def measure(
    backend: Phi4Backend, convs: list[list[ChatTurn]], batch_size: int, max_new_tokens: int, repeat: int
) -> dict[str, Any]:
    """Best of `repeat` timed passes over all prompts (after one warm-up batch): the least disturbed figure."""
    import torch

    backend.settings = backend.settings.model_copy(update={"batch_size": batch_size})
    counter = count_tokens(backend, max_new_tokens)
    sampling = Sampling(max_new_tokens=max_new_tokens)
    backend.generate(convs[: min(len(convs), batch_size)], sampling=sampling)  # warm-up (kernels, allocator)
    times = []
    for _ in range(repeat):
        counter.update(tokens=0, calls=0)
        if backend._device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = backend.generate(convs, sampling=sampling)
        if backend._device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    seconds = min(times)
    failed = sum(o is None for o in out)
    return {
        "batch": batch_size,
        "calls": counter["calls"],
        "tokens": counter["tokens"],
        "seconds": seconds,
        "failed": failed,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", choices=["tiny", "full"], default="tiny")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"])
    ap.add_argument("--inputs", choices=["text", "audio"], default="text")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per batch size; the fastest is reported")
    ap.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: 1 for the tiny config, whose toy matmuls only lose to "
        "thread sync, else torch's default)",
    )
    args = ap.parse_args(argv)
    threads = args.threads if args.threads is not None else (1 if args.config == "tiny" else 0)
    if threads:
        import torch

        torch.set_num_threads(threads)

    backend = (full_backend if args.config == "full" else tiny_backend)(args.device, args.dtype)
    convs = conversations(args.prompts, args.inputs)
    rows = []
    for batch_size in (1, args.batch_size):
        real = backend._model.generate
        rows.append(measure(backend, convs, batch_size, args.max_new_tokens, args.repeat))
        backend._model.generate = real
    import torch

    info = backend.describe()
    params = sum(p.numel() for p in backend._model.parameters())
    print(
        f"Phi-4 {args.config} config ({params / 1e6:.1f} M params), {info['device']} {info['dtype']}, "
        f"{args.prompts} {args.inputs} prompts x {args.max_new_tokens} new tokens, "
        f"{torch.get_num_threads()} torch thread(s)"
    )
    print(f"{'batch':>5} {'generate calls':>14} {'tokens':>7} {'seconds':>8} {'tokens/s':>9} {'speed-up':>8}")
    base = rows[0]["tokens"] / rows[0]["seconds"]
    for r in rows:
        rate = r["tokens"] / r["seconds"]
        print(
            f"{r['batch']:>5} {r['calls']:>14} {r['tokens']:>7} {r['seconds']:>8.2f} {rate:>9.1f} {rate / base:>7.2f}x"
        )
        if r["failed"]:
            print(f"      ({r['failed']} requests failed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
