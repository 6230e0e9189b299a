"""Phi-4-multimodal on vLLM (a CUDA GPU): the hub's remote-code checkpoint with its speech and vision LoRA adapters.

The checkpoint's main branch ships `speech-lora/` and `vision-lora/` adapters next to the base weights; prompts with
audio run under the speech adapter, prompts with images under the vision one (also when audio comes too: Phi-4's
vision-speech mode), text-only prompts under the base model. Media are numbered placeholders (`<|image_1|>`,
`<|audio_1|>`) as that format expects. All request building is in pure functions below, testable without vLLM;
`vllm` is imported only in `_load()`.

vLLM runs this checkpoint's own Python code (`trust_remote_code`), so a hub model must be pinned to a full commit
hash: `main` (the default) or any branch, tag or PR ref runs whatever its owner pushes next. A local directory is
code the user already holds, so it needs no revision.
"""

from __future__ import annotations

import logging
import re
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from datagen.backends.base import BackendError, ChatTurn, Completion, Sampling
from datagen.backends.chat import ChatBackend
from datagen.backends.hf_batching import batch_seed, prepare_each
from datagen.backends.phi4 import AUDIO_TOKEN, IMAGE_TOKEN, RATE, render_chat, to_rgb, to_wave
from datagen.records import Audio

log = logging.getLogger(__name__)

ASR_QUESTION = "Transcribe the audio clip into text."
LORAS = {"speech": (1, "speech-lora"), "vision": (2, "vision-lora")}  # name -> (LoRA int id, subfolder)
PINNED_COMMIT = re.compile(r"[0-9a-f]{40}")


def is_local_dir(model: str) -> bool:
    """A path (absolute, ./, ~/ or an existing folder) rather than a hub id like `org/name`."""
    return model.startswith(("/", ".", "~")) or Path(model).expanduser().is_dir()


class VLLMSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field("microsoft/Phi-4-multimodal-instruct", description="hub id (remote-code format) or local dir")
    revision: str | None = Field(
        None, description="hub commit (40 hex digits; required for a hub id: vLLM runs the model's own code)"
    )
    dtype: str = Field("auto", description="vLLM dtype: auto, bfloat16, float16")
    max_model_len: int = Field(12800, ge=256, description="context length to reserve KV cache for")
    max_num_seqs: int = Field(16, ge=1, description="concurrent sequences")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    max_lora_rank: int = Field(320, ge=1, description="Phi-4's speech adapter has rank 320")
    max_images: int = Field(4, ge=0, description="limit_mm_per_prompt for images")
    max_audios: int = Field(2, ge=0, description="limit_mm_per_prompt for audio")
    dynamic_hd: int = Field(16, ge=1, description="max image crops (Phi-4 processor's dynamic_hd)")
    max_new_tokens: int = Field(256, ge=1, description="for transcription and when a step gives no Sampling")
    asr_question: str = Field(ASR_QUESTION, description="user text of the ASR prompt, after the audio")

    @model_validator(mode="after")
    def _remote_code_is_pinned(self) -> VLLMSettings:
        if is_local_dir(self.model) or PINNED_COMMIT.fullmatch(self.revision or ""):
            return self
        found = f"revision {self.revision!r}" if self.revision else "no revision (= main, a branch that moves)"
        raise ValueError(
            f"vllm runs the model's own Python code (trust_remote_code), so a hub model must be pinned to a full "
            f"40-hex commit: {self.model!r} has {found}. Set `revision:` to the commit you reviewed (the hub's "
            f"'History' page lists them), or point `model:` at a local dir"
        )


def number_placeholders(prompt: str) -> str:
    """`<|image|>` / `<|audio|>` → `<|image_1|>`, `<|image_2|>`, ... numbered across the whole prompt."""
    counters = {IMAGE_TOKEN: 0, AUDIO_TOKEN: 0}

    def repl(match: re.Match[str]) -> str:
        counters[match.group(0)] += 1
        kind = "image" if match.group(0) == IMAGE_TOKEN else "audio"
        return f"<|{kind}_{counters[match.group(0)]}|>"

    return re.sub(re.escape(IMAGE_TOKEN) + "|" + re.escape(AUDIO_TOKEN), repl, prompt)


def build_request(conversation: list[ChatTurn]) -> dict[str, Any]:
    """A vLLM prompt dict: text with numbered placeholders, `multi_modal_data` in placeholder order."""
    data: dict[str, Any] = {}
    images = [to_rgb(img) for turn in conversation for img in turn.images]
    audios = [(to_wave(a), RATE) for turn in conversation for a in turn.audios]
    if images:
        data["image"] = images
    if audios:
        data["audio"] = audios
    request: dict[str, Any] = {"prompt": number_placeholders(render_chat(conversation))}
    if data:
        request["multi_modal_data"] = data
    return request


def asr_request(audio: Audio, question: str = ASR_QUESTION) -> dict[str, Any]:
    return {
        "prompt": f"<|user|><|audio_1|>{question}<|end|><|assistant|>",
        "multi_modal_data": {"audio": [(to_wave(audio), RATE)]},
    }


def lora_for(request: dict[str, Any]) -> str | None:
    """Which adapter a request runs under: vision if it has images, else speech if it has audio, else none."""
    data = request.get("multi_modal_data", {})
    if data.get("image"):
        return "vision"
    if data.get("audio"):
        return "speech"
    return None


def sampling_kwargs(sampling: Sampling, n: int, index: int) -> dict[str, Any]:
    """SamplingParams options; each request gets its own seed from (seed, index), so reruns reproduce it."""
    kwargs: dict[str, Any] = {"n": n, "max_tokens": sampling.max_new_tokens, "seed": batch_seed(sampling.seed, index)}
    if sampling.temperature <= 0:
        return {**kwargs, "temperature": 0.0}
    return {**kwargs, "temperature": sampling.temperature, "top_p": sampling.top_p}


def engine_kwargs(settings: VLLMSettings, model_dir: str) -> dict[str, Any]:
    """`vllm.LLM(...)` options for the remote-code Phi-4 with both LoRA adapters."""
    return {
        "model": model_dir,
        "trust_remote_code": True,
        "dtype": settings.dtype,
        "max_model_len": settings.max_model_len,
        "max_num_seqs": settings.max_num_seqs,
        "gpu_memory_utilization": settings.gpu_memory_utilization,
        "enable_lora": True,
        "max_lora_rank": settings.max_lora_rank,
        "max_loras": len(LORAS),
        "limit_mm_per_prompt": {"image": settings.max_images, "audio": settings.max_audios},
        "mm_processor_kwargs": {"dynamic_hd": settings.dynamic_hd},
    }


class VLLMBackend(ChatBackend[VLLMSettings]):
    """Phi-4-multimodal (remote-code format + LoRA) on `vllm.LLM`: `TextGenerator` and `Transcriber`."""

    engine = "vllm"

    def __init__(self, settings: VLLMSettings | None = None, *, name: str = "") -> None:
        super().__init__(settings, name=name)
        self._llm: Any = None
        self._loras: dict[str, Any] = {}
        self._params_cls: Any = None

    def device_request(self) -> str:
        return "cuda"  # vLLM serves on CUDA only: its shards must go to GPU workers

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if find_spec("vllm") is None:
            return "vllm is not installed (pip install 'datagen[vllm]'; it needs a CUDA GPU)"
        import torch

        if not torch.cuda.is_available():
            return "no CUDA GPU visible (vLLM serves Phi-4 on a GPU)"
        return None

    def _load(self) -> None:
        self._require_available()
        from vllm import LLM, SamplingParams
        from vllm.lora.request import LoRARequest

        s = self.settings
        model_dir = Path(s.model).expanduser()
        if not model_dir.is_dir():
            from huggingface_hub import snapshot_download

            try:
                model_dir = Path(snapshot_download(s.model, revision=s.revision))
            except OSError as exc:
                raise BackendError(f"vllm: cannot find {s.model!r} locally or on the hub: {exc}") from exc
        self._loras = {
            name: LoRARequest(name, lora_id, str(model_dir / folder)) for name, (lora_id, folder) in LORAS.items()
        }
        self._llm = LLM(**engine_kwargs(s, str(model_dir)))
        self._params_cls = SamplingParams

    def teardown(self) -> None:
        self._llm = None
        super().teardown()

    _prepare_chat = staticmethod(build_request)

    def transcribe(self, audios: list[Audio]) -> list[str | None]:
        self.setup()
        requests = prepare_each(audios, lambda a: asr_request(a, self.settings.asr_question), "vllm.transcribe")
        results = self._run(requests, 1, Sampling(max_new_tokens=self.settings.max_new_tokens), "vllm.transcribe")
        return [None if r is None else r[0] for r in results]

    def _run(
        self, requests: list[dict[str, Any] | None], n: int, sampling: Sampling, label: str
    ) -> list[list[str] | None]:
        live = [i for i, r in enumerate(requests) if r is not None]
        out: list[list[str] | None] = [None] * len(requests)
        try:
            for i, texts in zip(live, self._call([requests[i] for i in live], live, n, sampling), strict=True):
                out[i] = texts
        except Exception as exc:  # broad on purpose: vLLM validates the whole list: find the bad request alone
            log.warning("%s: batch of %d failed (%s); retrying one by one", label, len(live), exc)
            for i in live:
                try:
                    out[i] = self._call([requests[i]], [i], n, sampling)[0]
                except Exception as item_exc:
                    log.error("%s: request %d failed: %s: %s", label, i, type(item_exc).__name__, item_exc)
        return out

    def _call(self, requests: list[Any], indices: list[int], n: int, sampling: Sampling) -> list[list[str]]:
        params = [self._params_cls(**sampling_kwargs(sampling, n, i)) for i in indices]
        loras = [self._loras.get(lora_for(r) or "") for r in requests]
        results = self._llm.generate(requests, sampling_params=params, lora_request=loras, use_tqdm=False)
        return [[Completion(c.text.strip(), getattr(c, "finish_reason", None)) for c in r.outputs] for r in results]
