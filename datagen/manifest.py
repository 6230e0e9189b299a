"""Run manifests: YAML validated into typed objects before any model loads.

Relative paths resolve against the manifest's own folder, so a manifest runs the same from any working
directory. Errors name the file, the key and the valid options, all at once.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from datagen import registry
from datagen.backends.base import lacks
from datagen.media import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_MEDIA_BYTES
from datagen.safe_yaml import read_yaml
from datagen.steps import StepConfig, speed_only_fields

# The columns of every data shard that are a Sample's own fields, not meta.
SAMPLE_FIELDS = ("id", "messages", "images", "audios", "source_file", "source_index")
# What a step may read from any input record: the sample's fields, and the passage a reader puts in meta.
CORE_FIELDS = (*SAMPLE_FIELDS, "passage")


class ManifestError(ValueError):
    """One message listing every problem found in a manifest."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputConfig(_Strict):
    path: Path
    format: Literal["auto", "swift", "llava", "parquet", "hf", "webdataset"] = "auto"
    fields: dict[Literal["question", "answer", "passage", "images", "system"], str] | None = Field(
        None, description="column names: {question: prompt, answer: response, passage: text, images: image_path}"
    )
    allow_outside_paths: bool = Field(
        False, description="let image/audio paths be absolute or escape the data file's folder with '..'"
    )
    limit: int | None = Field(None, ge=1, description="read at most this many records")
    media_root: Path | None = Field(None, description="folder relative media paths resolve in (default: the data's)")
    max_media_bytes: int = Field(DEFAULT_MAX_MEDIA_BYTES, ge=1, description="larger media files are rejected unread")
    max_image_pixels: int = Field(DEFAULT_MAX_IMAGE_PIXELS, ge=1, description="larger images are rejected undecoded")


class OutputConfig(_Strict):
    path: Path
    shard_size: int = Field(256, ge=1, description="input records per shard (the unit of work and of resume)")
    split: str = Field("train", pattern=r"^[a-z][a-z0-9_]*$")
    exports: list[Literal["swift", "trl", "lhotse", "nemo"]] = Field(default_factory=list)


def tagged_union(names: Iterable[str], config_of: Callable[[str], type[BaseModel]], tag: str) -> Any:
    """One variant per registry entry, told apart by `tag` (`step:` / `engine:`), so errors name valid options."""
    from typing import Union

    variants = [
        create_model(f"{tag}_{name}", __base__=config_of(name), **{tag: (Literal[name], ...)}) for name in names
    ]
    return Annotated[Union[tuple(variants)], Field(discriminator=tag)]  # noqa: UP007 - built at run time


@cache
def _backend_union() -> Any:
    return tagged_union(registry.BACKENDS, lambda engine: registry.backend_class(engine).Settings, "engine")


@cache
def _step_union() -> Any:
    return tagged_union(registry.STEPS, lambda name: registry.step_class(name).Config, "step")


@cache
def _manifest_model() -> type[Manifest]:
    """`Manifest` with `backends` and `steps` narrowed to the registered engines and steps (tagged unions)."""
    return create_model(
        "Manifest",
        __base__=Manifest,
        backends=(dict[str, _backend_union()], Field(default_factory=dict)),
        steps=(list[_step_union()], Field(min_length=1)),
    )


class Manifest(_Strict):
    """A validated run manifest. Each of `backends` is its engine's settings model with an `engine` tag, each of
    `steps` its step's config with a `step` tag: `load_manifest` builds the model that knows every registered one."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = 0
    on_error: Literal["skip", "raise"] = Field("skip", description="a record whose step raises: reject it, or stop")
    input: InputConfig
    output: OutputConfig
    backends: dict[str, BaseModel] = Field(default_factory=dict)
    steps: list[StepConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _cross_check(self) -> Manifest:
        problems: list[str] = []
        available = set(CORE_FIELDS)
        for i, step in enumerate(self.steps):
            cls = registry.step_class(step.step)
            problems += _backend_problems(f"steps.{i}", step, self.backends)
            missing = [key for key in cls.reads if key not in available]
            if missing:
                problems.append(f"steps.{i} ({step.step}) reads {missing}, which no earlier step writes")
            available.update(cls.writes)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _backend_problems(where: str, step: Any, backends: dict[str, Any]) -> list[str]:
    """Each backend `step` calls must be defined and play the role the step needs (checked on the engine class)."""
    problems = []
    for ref in registry.step_class(step.step).backend_refs(step):
        spec = backends.get(ref.name)
        if spec is None:
            problems.append(f"{where}.{ref.key}: no backend named {ref.name!r}; defined: {sorted(backends) or 'none'}")
        elif missing := lacks(registry.backend_class(spec.engine), ref.role):
            problems.append(
                f"{where}.{ref.key}: step {step.step} needs a {ref.role.__name__}, but backend {ref.name!r} "
                f"(engine {spec.engine}) lacks {', '.join(f'{m}()' for m in missing)}"
            )
    return problems


def load_manifest(path: str | Path, overrides: dict[str, Any] | None = None) -> Manifest:
    """Read, resolve and validate; `overrides` are dotted keys (`input.path`) from the command line."""
    path = Path(path)
    data = read_yaml_mapping(path, "a manifest is a YAML mapping with keys name, input, output, backends, steps")
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ManifestError(f"{path}: cannot apply --{dotted}: {key!r} is not a mapping in the manifest")
        node[leaf] = value
    base = path.parent.resolve()
    for section, key in (("input", "path"), ("output", "path"), ("input", "media_root")):
        sec = data.get(section)
        if isinstance(sec, dict) and isinstance(sec.get(key), str):
            override = (overrides or {}).get(f"{section}.{key}")
            root = Path.cwd() if override is not None else base  # command-line paths are relative to the shell
            sec[key] = str((root / sec[key]).resolve())
    resolve_step_paths(data, base)
    try:
        return _manifest_model().model_validate(data)
    except ValidationError as err:
        raise ManifestError(format_errors(path, err)) from None


_STEP_PATH_MAPPINGS = ("benchmarks",)  # step options that map names to files (decontaminate's benchmarks)


def resolve_step_paths(data: dict[str, Any], base: Path) -> None:
    """Relative file paths inside step options resolve against the manifest's folder, like `input.path`."""
    steps = data.get("steps")
    for step in steps if isinstance(steps, list) else []:
        for key in _STEP_PATH_MAPPINGS:
            files = step.get(key) if isinstance(step, dict) else None
            if isinstance(files, dict):
                step[key] = {k: str((base / v).resolve()) if isinstance(v, str) else v for k, v in files.items()}


def read_yaml_mapping(path: Path, expected: str) -> dict[str, Any]:
    """Safe-load a YAML file that must hold a mapping; `expected` says what it should look like (size-capped: see
    datagen.safe_yaml, since a dataset's own manifest.yaml is untrusted input to `datagen filter`)."""
    try:
        data = read_yaml(path)
    except OSError as err:
        raise ManifestError(f"{path}: cannot read: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ManifestError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: {expected}")
    return data


def validate_manifest(data: dict[str, Any]) -> Manifest:
    """An already resolved manifest (e.g. `model_dump` shipped to a Dask worker) back into typed objects."""
    return _manifest_model().model_validate(data)


def format_errors(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: {err.error_count()} problem(s) in the manifest"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            valid = _valid_keys(e["loc"][:-1])
            close = difflib.get_close_matches(str(e["loc"][-1]), valid, n=1)
            msg = f"unknown key{f' (did you mean {close[0]!r}?)' if close else ''}; valid keys: {', '.join(valid)}"
        elif e["type"] == "union_tag_invalid":
            msg = msg.replace("Input tag", "unknown name").replace("found using", "in")
        if not loc:  # cross-checks: the message names its own keys
            lines.extend(f"  {problem}" for problem in msg.removeprefix("Value error, ").split("; "))
            continue
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def _valid_keys(loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model at `loc`, so an unknown-key error can list the right alternatives."""
    model: Any = _manifest_model()
    for part in loc:
        if isinstance(part, int):
            continue
        if part in registry.STEPS and model is not _manifest_model():
            model = registry.step_class(part).Config
            continue
        if part in registry.BACKENDS and model is not _manifest_model():
            model = registry.backend_class(part).Settings
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            continue
        model = _inner_model(field.annotation)
    names = list(getattr(model, "model_fields", {}))
    if len(loc) == 3 and loc[0] == "steps":
        names.append("step")
    if len(loc) == 3 and loc[0] == "backends":
        names.append("engine")
    return sorted(names)


def _inner_model(annotation: Any) -> Any:
    """The model class inside `Model`, `list[Model]` or `Model | None`, else `dict`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not dict:
            return found
    return dict


def resolved_dict(manifest: Manifest) -> dict[str, Any]:
    return manifest.model_dump(mode="json")


def manifest_hash(manifest: Manifest) -> str:
    """Identity of a run's content: everything but where the output goes and the options a step's config marks
    `speed_only` (they change how fast it runs, never what it writes: a killed run may resume with others)."""
    resolved = resolved_dict(manifest)
    resolved["steps"] = [
        {k: v for k, v in dumped.items() if k not in speed_only_fields(step)}
        for step, dumped in zip(manifest.steps, resolved["steps"], strict=True)
    ]
    return content_hash(resolved)


def content_hash(data: dict[str, Any]) -> str:
    """The hash of a resolved manifest as plain data (also `datagen filter`'s combined one), without output place."""
    data = {**data, "output": {k: v for k, v in (data.get("output") or {}).items() if k not in ("path", "exports")}}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]
