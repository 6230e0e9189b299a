"""vLLM backend: request building is pure and tested here; vLLM itself (a CUDA GPU) is not installed."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from datagen.backends.base import BackendError, ChatTurn, Sampling, finish_reason_of
from datagen.backends.vllm import (
    VLLMBackend,
    VLLMSettings,
    asr_request,
    build_request,
    engine_kwargs,
    lora_for,
    number_placeholders,
    sampling_kwargs,
)
from datagen.manifest import ManifestError, load_manifest, validate_manifest
from datagen.records import Audio, Image
from datagen.testing import tiny_png, write_manifest

PIN = "3f0c1e2d4b5a69788796a5b4c3d2e1f00f1e2d3c"  # any 40-hex commit: only its shape is checked here


def _audio(rate: int = 22050) -> Audio:
    return Audio(array=np.full(rate // 2, 0.1, np.float32), sampling_rate=rate)


def test_placeholders_are_numbered_per_kind_across_the_prompt() -> None:
    prompt = "<|user|><|image|>a<|audio|>b<|image|><|end|><|user|><|audio|><|end|><|assistant|>"
    assert number_placeholders(prompt) == (
        "<|user|><|image_1|>a<|audio_1|>b<|image_2|><|end|><|user|><|audio_2|><|end|><|assistant|>"
    )


def test_image_request_runs_under_the_vision_adapter() -> None:
    img = Image(tiny_png(size=20))
    req = build_request([ChatTurn("user", "Compare <image> and <image>", images=(img, img))])
    assert req["prompt"] == "<|user|>Compare <|image_1|> and <|image_2|><|end|><|assistant|>"
    assert [im.size for im in req["multi_modal_data"]["image"]] == [(20, 20), (20, 20)]
    assert lora_for(req) == "vision"
    both = build_request([ChatTurn("user", "<image><audio>", images=(img,), audios=(_audio(),))])
    assert lora_for(both) == "vision"  # Phi-4's vision-speech mode


def test_audio_request_is_16k_under_the_speech_adapter() -> None:
    req = build_request([ChatTurn("user", "Answer the question: <audio>", audios=(_audio(22050),))])
    assert req["prompt"] == "<|user|>Answer the question: <|audio_1|><|end|><|assistant|>"
    ((wave, rate),) = req["multi_modal_data"]["audio"]
    assert rate == 16000 and wave.dtype == np.float32 and len(wave) == 8000
    assert lora_for(req) == "speech"
    asr = asr_request(_audio(16000))
    assert asr["prompt"] == "<|user|><|audio_1|>Transcribe the audio clip into text.<|end|><|assistant|>"
    assert lora_for(asr) == "speech"


def test_text_only_request_uses_the_base_model() -> None:
    req = build_request([ChatTurn("system", "Be brief."), ChatTurn("user", "Hi")])
    assert req == {"prompt": "<|system|>Be brief.<|end|><|user|>Hi<|end|><|assistant|>"}
    assert lora_for(req) is None
    with pytest.raises(OSError, match="cannot identify image"):  # VLLMBackend turns this into None for the item
        build_request([ChatTurn("user", "<image>", images=(Image(b"broken"),))])


def test_sampling_params_seed_each_request_reproducibly() -> None:
    greedy = sampling_kwargs(Sampling(max_new_tokens=32, seed=3), n=1, index=0)
    assert greedy["temperature"] == 0.0 and greedy["max_tokens"] == 32 and greedy["n"] == 1 and "top_p" not in greedy
    hot = Sampling(temperature=0.7, top_p=0.9, seed=3)
    a, b = sampling_kwargs(hot, n=4, index=0), sampling_kwargs(hot, n=4, index=1)
    assert (a["temperature"], a["top_p"], a["n"]) == (0.7, 0.9, 4)
    assert a["seed"] != b["seed"] and a == sampling_kwargs(hot, n=4, index=0)


def test_engine_kwargs_enable_lora_and_media_limits() -> None:
    kw = engine_kwargs(VLLMSettings(max_images=2, max_audios=1, revision=PIN), "/models/phi4")
    assert kw["trust_remote_code"] is True and kw["enable_lora"] is True and kw["max_lora_rank"] == 320
    assert kw["limit_mm_per_prompt"] == {"image": 2, "audio": 1} and kw["model"] == "/models/phi4"


@pytest.mark.skipif(find_spec("vllm") is not None, reason="vllm is installed here")
def test_unavailable_without_vllm_and_setup_says_why() -> None:
    reason = VLLMBackend.unavailable_reason()
    assert reason is not None and "vllm is not installed" in reason
    with pytest.raises(BackendError, match="pip install 'datagen\\[vllm\\]'"):
        VLLMBackend(VLLMSettings(revision=PIN)).setup()


def test_manifest_accepts_vllm_as_generator_backend() -> None:
    backends = {"phi": {"engine": "vllm", "max_audios": 1, "revision": PIN}, "tts": {"engine": "fake_tts"}}
    manifest = validate_manifest(
        {
            "name": "x",
            "input": {"path": "/tmp/in.jsonl"},
            "output": {"path": "/tmp/out"},
            "backends": backends,
            "steps": [{"step": "vision_speech", "voices": [{"tts": "tts"}], "asr": "phi"}],
        }
    )
    assert manifest.backends["phi"].engine == "vllm" and manifest.backends["phi"].max_audios == 1
    # vLLM runs on CUDA only, so on Dask its shards must ask for a GPU worker
    from datagen.executors.dask import shard_resources

    assert shard_resources(manifest) == {"GPU": 1}


def _vllm_manifest(tmp_path: Path, phi: dict[str, Any]) -> Path:
    return write_manifest(
        tmp_path / "m.yaml",
        {
            "name": "x",
            "input": {"path": "in.jsonl"},
            "output": {"path": "out"},
            "backends": {"phi": {"engine": "vllm", **phi}, "tts": {"engine": "fake_tts"}},
            "steps": [{"step": "vision_speech", "voices": [{"tts": "tts"}], "asr": "phi"}],
        },
    )


@pytest.mark.parametrize(
    "phi",
    [
        {},  # the default hub id at `main`: a branch its owner can move
        {"revision": "main"},
        {"revision": "refs/pr/70"},
        {"revision": "v1.0"},
        {"revision": PIN[:12]},  # a short hash names different commits as the repository grows
        {"model": "someone/phi4-finetune", "revision": PIN.upper() + "x"},
    ],
    ids=["default", "main", "pr-ref", "tag", "short-hash", "not-hex"],
)
def test_remote_code_from_the_hub_needs_a_pinned_commit(tmp_path: Path, phi: dict[str, Any]) -> None:
    """vLLM runs the checkpoint's own Python (trust_remote_code): a mutable ref would run whatever it points at
    tomorrow. Refused at manifest validation, before any model loads."""
    with pytest.raises(ManifestError, match="40-hex commit"):
        load_manifest(_vllm_manifest(tmp_path, phi))


@pytest.mark.parametrize("model", ["{tmp}/phi4", "./phi4", "~/models/phi4", "/models/phi4"])
def test_a_pinned_revision_or_a_local_dir_is_accepted(tmp_path: Path, model: str) -> None:
    (tmp_path / "phi4").mkdir()
    pinned = load_manifest(_vllm_manifest(tmp_path, {"revision": PIN}))
    assert pinned.backends["phi"].revision == PIN
    local = load_manifest(_vllm_manifest(tmp_path, {"model": model.format(tmp=tmp_path)}))
    assert local.backends["phi"].revision is None


class _RecordingLLM:
    """Stands in for `vllm.LLM` (not installable here) to test the backend's glue: routing, order, fallback."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[object]]] = []

    def generate(
        self,
        requests: list[dict[str, Any]],
        sampling_params: list[dict[str, Any]],
        lora_request: list[Any],
        use_tqdm: bool,
    ) -> list[Any]:
        self.calls.append(([r["prompt"] for r in requests], lora_request))
        if len(requests) > 1 and any("boom" in r["prompt"] for r in requests):
            raise ValueError("bad request in batch")
        if any("boom" in r["prompt"] for r in requests):
            raise ValueError("bad request")

        class _Completion:  # vLLM's CompletionOutput: the text and why it ended ("length": max_tokens reached)
            def __init__(self, text: str, finish_reason: str) -> None:
                self.text, self.finish_reason = text, finish_reason

        class _Result:
            def __init__(self, prompt: str, n: int) -> None:
                self.outputs = [_Completion(f" {prompt} #{k} ", ("stop", "length")[k % 2]) for k in range(n)]

        return [_Result(r["prompt"], p["n"]) for r, p in zip(requests, sampling_params, strict=True)]


def test_backend_routes_loras_keeps_order_and_isolates_failures() -> None:
    backend = VLLMBackend(VLLMSettings(revision=PIN))
    llm = _RecordingLLM()
    backend._llm, backend._params_cls, backend._loras = llm, dict, {"speech": "LORA-speech", "vision": "LORA-vision"}
    backend._ready = True
    convs = [
        [ChatTurn("user", "<audio>", audios=(_audio(),))],
        [ChatTurn("user", "boom")],
        [ChatTurn("user", "<image>", images=(Image(b"broken"),))],
        [ChatTurn("user", "<image>what", images=(Image(tiny_png()),))],
        [ChatTurn("user", "plain")],
    ]
    out = backend.generate(convs, n=2, sampling=Sampling(temperature=0.5))
    assert out[1] is None and out[2] is None
    plain = "<|user|>plain<|end|><|assistant|>"
    assert out[4] == [f"{plain} #0", f"{plain} #1"]  # stripped, in request order
    assert [finish_reason_of(t) for t in out[4]] == ["stop", "length"]  # vLLM's finish reasons are passed on
    assert out[0] == ["<|user|><|audio_1|><|end|><|assistant|> #0", "<|user|><|audio_1|><|end|><|assistant|> #1"]
    assert out[3] is not None and out[3][0].startswith("<|user|><|image_1|>what")
    first_prompts, first_loras = llm.calls[0]
    assert len(first_prompts) == 4 and first_loras == ["LORA-speech", None, "LORA-vision", None]
    assert len(llm.calls) == 1 + 4  # the failed batch was retried one request at a time
    assert backend.transcribe([_audio(), Audio(np.zeros(0, np.float32), 16000)])[1] is None
    assert llm.calls[-1][1] == ["LORA-speech"]
