"""Backend protocols: batch in, batch out; `None` marks an item that failed without sinking its batch.

`__init__` stores settings only and `setup()` loads weights, so a backend is cheap to build, validate and ship
to a worker, and models load once per worker process, not per sample.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, get_args, runtime_checkable

import numpy as np
from pydantic import BaseModel

from datagen.records import Audio

log = logging.getLogger(__name__)

PEAK = 0.95  # one gain per utterance, the same for every engine: a mixed voice pool sounds equally loud, no clipping


class BackendError(Exception):
    """A backend cannot be used (missing package, missing model files; from `setup()`), or one call failed.

    Not a `RuntimeError`: executors retry transient errors only, and a missing checkpoint stays missing. An engine
    that raises it for a single item lists it in `ItemSynthesizer.synthesize_each`'s `errors` (that item fails).
    """


@dataclass(slots=True, frozen=True)
class Voice:
    """One draw from a voice pool: which engine speaks, with which voice, how fast, and with which noise seed.

    `name` "" means the engine's default voice; `backend` is the manifest name of the synthesizer to call.
    """

    engine: str
    name: str = ""
    backend: str = ""
    speed: float = 1.0
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class Sampling:
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0


@dataclass(slots=True, frozen=True)
class ChatTurn:
    """A chat message for a `TextGenerator`; images/audios are attached to the turn in order of their tags."""

    role: str
    content: str
    images: tuple[Any, ...] = ()
    audios: tuple[Audio, ...] = ()


@runtime_checkable
class Backend(Protocol):
    name: str

    def setup(self) -> None: ...

    def teardown(self) -> None: ...

    def describe(self) -> dict[str, Any]:
        """Provenance: engine, model id/path, version; goes into every record this backend touched."""
        ...


@runtime_checkable
class Synthesizer(Backend, Protocol):
    def synthesize(self, texts: list[str], voices: list[Voice]) -> list[Audio | None]: ...

    def voices(self) -> list[str]:
        """Voice names this engine offers (validated against the manifest's voice pool)."""
        ...


@runtime_checkable
class Transcriber(Backend, Protocol):
    def transcribe(self, audios: list[Audio]) -> list[str | None]: ...


@runtime_checkable
class Drafter(Backend, Protocol):
    """An optional capability of a `Transcriber`: a cheaper transcription that may be wrong where `transcribe` is
    right. A speech step with `asr_draft: true` keeps a draft only if it matches the spoken text word for word,
    and transcribes every other clip again with `transcribe`, so its keep/drop decisions stay those of
    `transcribe` except where the draft heard every word and the full transcription did not."""

    def draft(self, audios: list[Audio]) -> list[str | None]: ...


class Completion(str):
    """A generated text that also says why generation stopped: "stop" (the model ended it), "length" (cut at
    `max_new_tokens`), or None (the engine does not say).

    A `str`, so every caller that wants only the text keeps working; a caller that must know whether a reasoning
    trace was cut off reads `finish_reason_of(text)`. String methods (`strip`, slicing) return plain `str`.
    """

    finish_reason: str | None

    def __new__(cls, text: str, finish_reason: str | None = None) -> Completion:
        made = super().__new__(cls, text)
        made.finish_reason = finish_reason
        return made

    @property
    def text(self) -> str:
        return str(self)

    def __reduce__(self) -> tuple[Any, ...]:  # pickled (Dask) with its finish reason
        return (Completion, (str(self), self.finish_reason))


def finish_reason_of(text: object) -> str | None:
    """The finish reason a backend attached to a generated text ("stop", "length"), None when it attached none."""
    reason = getattr(text, "finish_reason", None) if isinstance(text, str) else None
    return reason if isinstance(reason, str) else None


@runtime_checkable
class TextGenerator(Backend, Protocol):
    def generate(
        self, conversations: list[list[ChatTurn]], n: int = 1, sampling: Sampling | None = None
    ) -> list[list[str] | None]:
        """n texts per conversation (None for a failed one); each may be a `Completion` carrying its finish reason."""
        ...


@runtime_checkable
class Scorer(Backend, Protocol):
    """An optional capability of a `TextGenerator`: how likely the model finds given completions (DPO's
    `hardest_negative` pairs the likeliest wrong trace; without a scorer it pairs by frequency)."""

    def score(self, conversations: list[list[ChatTurn]], completions: list[str]) -> list[float | None]: ...


ROLES: dict[str, type[Backend]] = {
    "synthesize": Synthesizer,
    "transcribe": Transcriber,
    "generate": TextGenerator,
    "score": Scorer,
    "draft": Drafter,
}
"""Each role a backend can play, by the method that runs its model. A step names the role of every backend it
calls (`Step.backend_refs`), a manifest is checked against it, `datagen backends` lists what each engine can do,
and the pipeline times these methods."""


def lacks(backend: object, role: type[Backend]) -> list[str]:
    """The methods `role` adds to `Backend` that `backend` (an engine class, or a built one) lacks: [] = it plays it.

    Checked by name, so an engine class is checked before anything is built (`issubclass` refuses protocols with
    attributes, like `name`), and a wrapper that forwards attributes (the pipeline's timer) counts as what it wraps.
    """
    wanted = [name for name, value in vars(role).items() if callable(value) and not name.startswith("_")]
    return [name for name in wanted if not callable(getattr(backend, name, None))]


T = TypeVar("T", bound=BaseModel)
A = TypeVar("A")


def type_argument(cls: type, bound: type[A]) -> type[A] | None:
    """The class `cls` names as its base's type argument, if it is a `bound`: `PiperSettings` for
    `class Piper(BaseBackend[PiperSettings])`, `MaxWerConfig` for `class MaxWer(Filter[MaxWerConfig])`."""
    for base in getattr(cls, "__orig_bases__", ()):
        argument = next(iter(get_args(base)), None)
        if isinstance(argument, type) and issubclass(argument, bound):
            return argument
    return None


class BaseBackend(Generic[T]):
    """Shared plumbing: settings held as given, `setup()` idempotent, provenance from `describe()`.

    Subclasses set `engine` (the registry name), name their settings model as the type argument
    (`class Piper(BaseBackend[PiperSettings])`: a pydantic model with `extra="forbid"`, which sets `Settings` and
    types `self.settings`), and implement `_load()` (import heavy packages and load weights there, never at
    module import time). What `_load()` fills in is declared as a class attribute with its unloaded value.
    """

    engine: str = ""
    Settings: type[BaseModel]
    settings: T

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Settings" not in cls.__dict__ and (settings := type_argument(cls, BaseModel)):
            cls.Settings = settings

    def __init__(self, settings: T | None = None, *, name: str = "") -> None:
        self.settings = settings if settings is not None else self.Settings()
        self.name = name or self.engine
        self._ready = False

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this engine cannot run on this machine (missing package, model files, device), or None if it can.

        Cheap: checks imports and files without loading weights; `datagen backends` lists it for every engine.
        """
        return None

    def device_request(self) -> str:
        """The device the settings ask for ("cuda", "auto" or "cpu"), so an executor can ask its cluster for a GPU.

        Read from a `device` setting ("cuda:1" counts as cuda) or `use_cuda`; an engine that places its model some
        other way overrides this.
        """
        if getattr(self.settings, "use_cuda", False):
            return "cuda"
        device = str(getattr(self.settings, "device", "cpu"))
        return "cuda" if device.startswith("cuda") else "auto" if device == "auto" else "cpu"

    def setup(self) -> None:
        if not self._ready:
            self._load()
            self._ready = True

    def _load(self) -> None:
        """Load weights; raise `BackendError` with a fix-it message when something is missing."""

    def teardown(self) -> None:
        self._ready = False

    def describe(self) -> dict[str, Any]:
        return {"engine": self.engine, **self.settings.model_dump(mode="json")}


class ItemSynthesizer(BaseBackend[T]):
    """Base of the engines that speak one text per call (piper, Kokoro, coqui, the command-line engines).

    `synthesize_each` is their batch loop; `check_voice_options` and `peak_normalized` are the checks every one of
    them makes, so a voice pool mixing engines behaves (and sounds) the same whichever engine draws an item.
    """

    def synthesize_each(
        self,
        texts: list[str],
        voices: list[Voice],
        one: Callable[[str, Voice], Audio],
        errors: tuple[type[BaseException], ...],
    ) -> list[Audio | None]:
        """Synthesize item by item: an item raising one of `errors` becomes None (and a log line), not a sunk batch.

        `errors` names what the engine raises for a bad item, so a real bug (anything else) still surfaces.
        """
        if len(texts) != len(voices):
            raise ValueError(f"{len(texts)} texts but {len(voices)} voices")
        out: list[Audio | None] = []
        for text, voice in zip(texts, voices, strict=True):
            try:
                out.append(one(text, voice))
            except errors as exc:
                log.error("%s failed on %r (voice %s, seed %d): %s: %s", self.engine, text[:80], voice.name,
                          voice.seed, type(exc).__name__, exc)  # fmt: skip
                out.append(None)
        return out

    def peak_normalized(self, wave: Any, sampling_rate: int, floor: float = 1e-6) -> Audio:
        """`wave` scaled to peak at `PEAK`; silent (peak below `floor`) or non-finite audio fails the item."""
        wave = np.asarray(wave, dtype=np.float32).reshape(-1)
        peak = float(np.max(np.abs(wave))) if wave.size else 0.0
        if not math.isfinite(peak) or peak < floor:
            raise ValueError(f"{self.engine} produced {'non-finite' if not math.isfinite(peak) else 'silent'} audio")
        return Audio(array=wave * np.float32(PEAK / peak), sampling_rate=sampling_rate)

    def check_voice_options(self, voice: Voice, known: frozenset[str] = frozenset()) -> None:
        """A voice option the engine does not understand fails the item, never silently ignored."""
        if unknown := set(voice.options) - known:
            hint = f" (known: {sorted(known)})" if known else ""
            raise ValueError(f"unknown {self.engine} voice options {sorted(unknown)}{hint}")


def package_version(dist: str) -> str:
    """The installed version of a distribution, for provenance; "unknown" when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


def model_name(backend: Any) -> str:
    """`engine:model` from a backend's `describe()`: the provenance string of a model that touched a record."""
    info = backend.describe()
    return f"{info.get('engine')}:{info.get('model') or info.get('model_path') or ''}".rstrip(":")
