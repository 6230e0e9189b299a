"""Phi-4-multimodal through transformers' native classes: one loaded model is both chat generator and ASR.

Native `Phi4MultimodalForCausalLM` + `Phi4MultimodalProcessor`, not the hub's remote code: on the hub the native
weights live at a converted revision (`refs/pr/70`), hence `revision` is a setting. Serving the remote-code format
with its LoRA adapters is the vllm backend's job. Batching, seeding and the one-by-one fallback are in
`hf_batching` (see there for what is deterministic).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from datagen.backends.base import BackendError, ChatTurn, Sampling, package_version
from datagen.backends.chat import TransformersChat
from datagen.backends.hf_batching import generate_completions, prepare_each, torch_device_and_dtype
from datagen.records import MEDIA_TAG, Audio, Image

log = logging.getLogger(__name__)

RATE = 16000  # the feature extractor rejects any other rate
DEFAULT_MODEL = "microsoft/Phi-4-multimodal-instruct"
NATIVE_REVISION = "refs/pr/70"
ASR_PROMPT = "<|user|><|audio|>Transcribe the audio clip into text.<|end|><|assistant|>"
IMAGE_TOKEN, AUDIO_TOKEN = "<|image|>", "<|audio|>"
# Rough token cost of media, only to sort requests by length: one 448 px crop ≈ 256 tokens; audio ≈ 12.5 tokens/s.
_IMAGE_TOKENS, _AUDIO_TOKENS_PER_SECOND = 256, 12.5


class Phi4Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(DEFAULT_MODEL, description="hub id (must already be in the local HF cache) or a local dir")
    revision: str | None = Field(
        NATIVE_REVISION, description="hub revision holding native-format weights; null for a local dir"
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="auto = bfloat16 on GPUs that support it, else float16 on CUDA, float32 on CPU"
    )
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto = cuda if available")
    device_map: str | None = Field(None, description="accelerate device map (e.g. 'auto'); overrides device")
    batch_size: int = Field(8, ge=1, description="requests per generate() call (sorted by length, left-padded)")
    max_new_tokens: int = Field(256, ge=1, description="for transcription and when a step gives no Sampling")
    asr_prompt: str = Field(ASR_PROMPT, description="the ASR prompt; must contain one <|audio|>")
    attn_implementation: str | None = Field(None, description="e.g. sdpa, eager, flash_attention_2; null = default")

    @field_validator("asr_prompt")
    @classmethod
    def _one_audio_slot(cls, value: str) -> str:
        if value.count(AUDIO_TOKEN) != 1:
            raise ValueError(f"the ASR prompt needs exactly one {AUDIO_TOKEN} (where the clip goes)")
        return value


@dataclass(slots=True)
class Prompt:
    """A request ready for the processor: prompt text with the model's media tokens, media in tag order."""

    text: str
    images: list[Any] = field(default_factory=list)
    audios: list[np.ndarray] = field(default_factory=list)


def place_media(content: str, n_images: int, n_audios: int) -> str:
    """Map ms-swift `<image>`/`<audio>` tags to Phi-4's tokens; media without tags go before the text.

    A turn whose tag count differs from its media count is an error: guessing would pair media with the wrong text.
    """
    counts = {"image": content.count("<image>"), "audio": content.count("<audio>")}
    for kind, have in (("image", n_images), ("audio", n_audios)):
        if counts[kind] and counts[kind] != have:
            raise ValueError(f"{counts[kind]} <{kind}> tag(s) but {have} {kind}(s)")
    tokens = {"image": IMAGE_TOKEN, "audio": AUDIO_TOKEN}  # Phi-4 has no video input: `<video>` stays text
    text = MEDIA_TAG.sub(lambda m: tokens.get(m.group(1), m.group(0)), content)
    prefix = (IMAGE_TOKEN * n_images if not counts["image"] else "") + (
        AUDIO_TOKEN * n_audios if not counts["audio"] else ""
    )
    return prefix + text


def render_chat(conversation: list[ChatTurn]) -> str:
    """Phi-4's chat format: `<|role|>content<|end|>` per turn, then `<|assistant|>` to generate the reply."""
    if not conversation:
        raise ValueError("empty conversation")
    parts = []
    for turn in conversation:
        if turn.role not in ("system", "user", "assistant"):
            raise ValueError(f"unknown role {turn.role!r}")
        parts.append(f"<|{turn.role}|>{place_media(turn.content, len(turn.images), len(turn.audios))}<|end|>")
    return "".join(parts) + "<|assistant|>"


def to_rgb(image: Any) -> Any:
    """`datagen.records.Image` (encoded bytes) or a PIL image → decoded RGB PIL image (raises if unreadable)."""
    pil = image.to_pil() if isinstance(image, Image) else image
    if not hasattr(pil, "convert"):
        raise TypeError(f"not an image: {type(image).__name__}")
    return pil.convert("RGB")


def to_wave(audio: Audio) -> np.ndarray:
    """16 kHz float32 mono; empty or non-finite audio is refused here rather than inside the batch."""
    wave = np.asarray(audio.resampled(RATE).array, dtype=np.float32).reshape(-1)
    if wave.size < RATE // 100:
        raise ValueError(f"audio too short ({wave.size} samples at {RATE} Hz)")
    if not np.isfinite(wave).all():
        raise ValueError("audio has non-finite samples")
    return wave


class Phi4Backend(TransformersChat[Phi4Settings]):
    """Phi-4-multimodal as `TextGenerator` (text, images, audio in) and `Transcriber` (its ASR prompt)."""

    engine = "phi4"

    _model: Any = None
    _processor: Any = None
    _dtype: Any = None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        for module, hint in (("transformers", "pip install transformers"), ("torchvision", "pip install torchvision")):
            if find_spec(module) is None:
                return f"{module} is not installed ({hint}; Phi-4's image processor needs torchvision)"
        import transformers

        if not hasattr(transformers, "Phi4MultimodalForCausalLM"):
            return f"transformers {transformers.__version__} has no native Phi4MultimodalForCausalLM (need >= 4.52)"
        return None

    def describe(self) -> dict[str, Any]:
        info = {**super().describe()}
        if self._ready:
            info["device"] = str(self._model.device)
            info["dtype"] = str(self._dtype).removeprefix("torch.")
        info["transformers_version"] = package_version("transformers")
        return info

    def _load(self) -> None:
        self._require_available()
        from transformers import Phi4MultimodalForCausalLM, Phi4MultimodalProcessor

        s = self.settings
        try:
            self._device, self._dtype = torch_device_and_dtype(s.device, s.dtype)
        except ValueError as exc:
            raise BackendError(f"phi4: {exc}") from exc
        kwargs: dict[str, Any] = {"revision": s.revision, "dtype": self._dtype}
        if s.device_map:
            kwargs["device_map"] = s.device_map
        if s.attn_implementation:
            kwargs["attn_implementation"] = s.attn_implementation
        try:
            self._processor = Phi4MultimodalProcessor.from_pretrained(s.model, revision=s.revision)
            model = Phi4MultimodalForCausalLM.from_pretrained(s.model, **kwargs)
        except (OSError, ValueError) as exc:
            raise BackendError(
                f"phi4: cannot load {s.model!r} (revision {s.revision!r}): {exc}. Point `model:` at a local dir "
                f"holding native-format weights (revision: null), or pre-fetch {DEFAULT_MODEL} at revision "
                f"{NATIVE_REVISION} into the HF cache on a machine with network access"
            ) from exc
        if not s.device_map:
            model = model.to(self._device)
        self._model = model.eval()
        self._device = str(model.device)
        self._processor.tokenizer.padding_side = "left"

    def teardown(self) -> None:
        self._model = self._processor = None
        super().teardown()

    # -- Transcriber (TextGenerator's `generate` is the shared one) --

    def transcribe(self, audios: list[Audio]) -> list[str | None]:
        self.setup()
        prompt = self.settings.asr_prompt
        prepared = prepare_each(audios, lambda a: Prompt(prompt, audios=[to_wave(a)]), "phi4.transcribe")
        sampling = Sampling(temperature=0.0, max_new_tokens=self.settings.max_new_tokens)
        return [None if r is None else r[0].strip() for r in self._run(prepared, 1, sampling, "phi4.transcribe")]

    # -- internals --

    def _prepare_chat(self, conversation: list[ChatTurn]) -> Prompt:
        images = [to_rgb(img) for turn in conversation for img in turn.images]
        audios = [to_wave(a) for turn in conversation for a in turn.audios]
        return Prompt(render_chat(conversation), images, audios)

    def _length(self, prompt: Prompt) -> int:
        text_tokens = len(self._processor.tokenizer(prompt.text, add_special_tokens=False)["input_ids"])
        audio_seconds = sum(len(a) for a in prompt.audios) / RATE
        return int(text_tokens + _IMAGE_TOKENS * len(prompt.images) + _AUDIO_TOKENS_PER_SECOND * audio_seconds)

    def _groups(self, prepared: Sequence[Prompt | None]) -> list[Hashable] | None:
        """Phi-4 projects audio differently when a batch holds images: keep media kinds apart."""
        return [None if p is None else (bool(p.images), bool(p.audios)) for p in prepared]

    def _generate_batch(self, batch: list[Prompt], sampling: Sampling) -> list[str]:
        inputs = self._processor(
            text=[p.text for p in batch],
            images=[img for p in batch for img in p.images] or None,
            audio=[a for p in batch for a in p.audios] or None,
            sampling_rate=RATE,
            padding=True,
            return_tensors="pt",
        ).to(self._model.device, dtype=self._dtype)
        return generate_completions(self._model, self._processor.tokenizer, inputs, sampling)
