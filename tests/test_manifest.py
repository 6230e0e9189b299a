"""Tests for run manifests: typed loading, path resolution, error messages, safe YAML and the run hash."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datagen import registry
from datagen.backends.fake import FakeASRSettings, FakeTTSSettings
from datagen.generators.vision_speech import VisionSpeechConfig
from datagen.manifest import ManifestError, load_manifest, manifest_hash
from datagen.testing import fake_manifest, write_manifest
from datagen.voices import VoiceChoice
from filters.wer_gate import MaxWerConfig


@pytest.fixture
def base() -> dict[str, Any]:
    return fake_manifest(Path("data/train.jsonl"), Path("out"), shard_size=4, max_wer=0.3)


def _write(folder: Path, data: dict[str, Any], name: str = "run.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_manifest(folder / name, data)


# -- loading --------------------------------------------------------------------------------------------------


def test_loads_typed_objects_with_defaults(tmp_path: Path, base: dict[str, Any]) -> None:
    m = load_manifest(_write(tmp_path, base))
    assert (m.name, m.seed, m.on_error) == ("test-run", 7, "skip")
    assert (m.input.format, m.input.allow_outside_paths, m.input.limit) == ("auto", False, None)
    assert (m.output.shard_size, m.output.split, m.output.exports) == (4, "train", [])

    assert set(m.backends) == {"tts", "asr"}
    assert isinstance(m.backends["tts"], FakeTTSSettings) and m.backends["tts"].engine == "fake_tts"
    assert isinstance(m.backends["asr"], FakeASRSettings) and m.backends["asr"].engine == "fake_asr"
    assert m.backends["asr"].word_error_rate == 0.0

    speech, gate = m.steps
    assert isinstance(speech, VisionSpeechConfig) and speech.step == "vision_speech"
    assert isinstance(gate, MaxWerConfig) and gate.step == "max_wer"
    assert gate.max_wer == 0.3
    assert (speech.asr, speech.turns, speech.batch_size, speech.max_audio_seconds) == ("asr", "all", 16, 30.0)
    (voice,) = speech.voices
    assert isinstance(voice, VoiceChoice)
    assert (voice.tts, voice.voice, voice.speed, voice.weight) == ("tts", "alpha", (0.9, 1.1), 1.0)


def test_backend_settings_given_in_manifest(tmp_path: Path) -> None:
    data = fake_manifest(Path("d.jsonl"), Path("o"), tts={"seconds_per_char": 0.02}, asr={"word_error_rate": 0.5})
    m = load_manifest(_write(tmp_path, data))
    assert m.backends["tts"].seconds_per_char == 0.02
    assert m.backends["asr"].word_error_rate == 0.5


@pytest.mark.parametrize(
    ("input_path", "output_path", "expected_input", "expected_output"),
    [
        ("data/train.jsonl", "out", "cfg/data/train.jsonl", "cfg/out"),
        ("../shared/train.jsonl", "../results/run1", "shared/train.jsonl", "results/run1"),
        ("./train.jsonl", "out/../out2", "cfg/train.jsonl", "cfg/out2"),
    ],
)
def test_relative_paths_resolve_against_manifest_folder(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    input_path: str,
    output_path: str,
    expected_input: str,
    expected_output: str,
) -> None:
    path = _write(tmp_path / "cfg", fake_manifest(Path(input_path), Path(output_path)))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    m = load_manifest(path)
    assert m.input.path == (tmp_path / expected_input).resolve()
    assert m.output.path == (tmp_path / expected_output).resolve()
    # and the same from a relative manifest path
    monkeypatch.chdir(tmp_path)
    assert load_manifest(Path("cfg/run.yaml")).input.path == (tmp_path / expected_input).resolve()


def test_absolute_paths_kept(tmp_path: Path) -> None:
    data_file, out = tmp_path / "abs" / "train.jsonl", tmp_path / "abs-out"
    m = load_manifest(_write(tmp_path / "cfg", fake_manifest(data_file, out)))
    assert (m.input.path, m.output.path) == (data_file, out)


@pytest.mark.parametrize("section", ["input", "output"])
def test_override_path_resolves_against_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str) -> None:
    path = _write(tmp_path / "cfg", fake_manifest(Path("data/train.jsonl"), Path("out")))
    shell = tmp_path / "shell"
    shell.mkdir()
    monkeypatch.chdir(shell)
    m = load_manifest(path, overrides={f"{section}.path": "given/here"})
    other = "output" if section == "input" else "input"
    assert getattr(m, section).path == (shell / "given" / "here").resolve()
    expected_other = {"input": tmp_path / "cfg" / "data" / "train.jsonl", "output": tmp_path / "cfg" / "out"}
    assert getattr(m, other).path == expected_other[other].resolve()  # untouched: still manifest-relative


def test_override_other_keys(tmp_path: Path, base: dict[str, Any]) -> None:
    m = load_manifest(_write(tmp_path, base), overrides={"output.shard_size": 9, "input.limit": 3, "seed": 1})
    assert (m.output.shard_size, m.input.limit, m.seed) == (9, 3, 1)


# -- errors ---------------------------------------------------------------------------------------------------


def _set(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        node = data
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return mutate


def _reverse_steps(data: dict[str, Any]) -> None:
    data["steps"].reverse()


def _only_gate(data: dict[str, Any]) -> None:
    data["steps"] = data["steps"][1:]


def _first_step(step: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data["steps"].insert(0, step)

    return mutate


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda data: data.pop(key)


# (label, change to the good manifest, substrings the message must contain)
ERRORS: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    ("top_key_typo", _set("ouput", value={}), ["ouput", "did you mean 'output'", "valid keys", "steps", "backends"]),
    ("input_key_typo", _set("input", "pth", value="x"), ["input.pth", "did you mean 'path'", "allow_outside_paths"]),
    ("step_option_typo", _set("steps", 1, "max_wr", value=0.1), ["steps.1", "max_wr", "did you mean 'max_wer'"]),
    (
        "backend_option_typo",
        _set("backends", "asr", "word_error_rat", value=0.1),
        ["backends.asr", "word_error_rat", "did you mean 'word_error_rate'"],
    ),
    ("wrong_type", _set("output", "shard_size", value="many"), ["output.shard_size", "integer"]),
    ("out_of_range", _set("output", "shard_size", value=0), ["output.shard_size", "greater than"]),
    ("bad_literal", _set("on_error", value="ignore"), ["on_error", "skip", "raise"]),
    ("bad_split", _set("output", "split", value="Train Set"), ["output.split"]),
    ("missing_required", _drop("input"), ["input", "required"]),
    ("no_steps", _set("steps", value=[]), ["steps"]),
    (
        "unknown_engine",
        _set("backends", "tts", "engine", value="festival"),
        ["backends.tts", "festival", *registry.BACKENDS],
    ),
    ("unknown_step", _set("steps", 1, "step", value="min_wer"), ["steps.1", "min_wer", *registry.STEPS]),
    ("undefined_backend", _set("steps", 0, "asr", value="whisper"), ["steps.0.asr", "no backend named 'whisper'"]),
    (
        "asr_as_tts",
        _set("steps", 0, "voices", 0, "tts", value="asr"),
        ["steps.0.voices.0.tts", "vision_speech needs a Synthesizer", "'asr' (engine fake_asr)", "synthesize()"],
    ),
    (
        "tts_as_asr",
        _set("steps", 0, "asr", value="tts"),
        ["steps.0.asr", "needs a Transcriber", "'tts' (engine fake_tts) lacks transcribe()"],
    ),
    (
        "asr_as_generator",
        _first_step({"step": "spoken_style", "generator": "asr"}),
        ["steps.0.generator", "spoken_style needs a TextGenerator", "'asr' (engine fake_asr) lacks generate()"],
    ),
    ("gate_before_speech", _reverse_steps, ["steps.0", "max_wer", "wer", "no earlier step writes"]),
    ("gate_alone", _only_gate, ["steps.0", "max_wer", "no earlier step writes"]),
    ("bad_voice_speed", _set("steps", 0, "voices", 0, "speed", value=[2.0, 1.0]), ["steps.0", "speed"]),
    ("empty_voice_pool", _set("steps", 0, "voices", value=[]), ["voices"]),
]


@pytest.mark.parametrize(("mutate", "expected"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_manifest_errors(
    tmp_path: Path, base: dict[str, Any], mutate: Callable[[dict[str, Any]], None], expected: list[str]
) -> None:
    data = copy.deepcopy(base)
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    message = str(info.value)
    assert str(path) in message
    for part in expected:
        assert part in message, f"{part!r} not in:\n{message}"


def test_good_manifest_has_no_errors(tmp_path: Path, base: dict[str, Any]) -> None:
    """The table above mutates this manifest: it must load, or every error case would pass for the wrong reason."""
    load_manifest(_write(tmp_path, base))


def test_all_problems_reported_at_once(tmp_path: Path, base: dict[str, Any]) -> None:
    base["ouput"] = {}
    base["output"]["shard_size"] = "many"
    base["steps"][1]["max_wr"] = 1
    path = _write(tmp_path, base)
    with pytest.raises(ManifestError, match=r"3 problem") as info:
        load_manifest(path)
    for key in ("ouput", "output.shard_size", "max_wr"):
        assert key in str(info.value)


def test_override_error_is_manifest_error(tmp_path: Path, base: dict[str, Any]) -> None:
    with pytest.raises(ManifestError, match="output.shard_size"):
        load_manifest(_write(tmp_path, base), overrides={"output.shard_size": "many"})


def test_unknown_voice_key_lists_voice_options(tmp_path: Path, base: dict[str, Any]) -> None:
    base["steps"][0]["voices"][0]["sped"] = [1.0, 1.2]
    path = _write(tmp_path, base)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    message = str(info.value)
    assert "steps.0.vision_speech.voices.0.sped" in message
    assert "did you mean 'speed'" in message
    for key in ("tts", "voice", "speed", "weight"):
        assert key in message


def test_override_under_non_mapping_is_manifest_error(tmp_path: Path, base: dict[str, Any]) -> None:
    base["input"] = "data/train.jsonl"  # a common slip: a string where a mapping belongs
    with pytest.raises(ManifestError, match="input"):
        load_manifest(_write(tmp_path, base), overrides={"input.path": "other.jsonl"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\ninput: {path: [unclosed\n", "not valid YAML"),
        ("name: x\n  bad: indent\n", "not valid YAML"),
        ("- name: x\n- input: y\n", "mapping"),
        ("just a string\n", "mapping"),
        ("", "mapping"),
    ],
    ids=["unclosed_flow", "bad_indent", "list", "scalar", "empty"],
)
def test_unusable_yaml(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=expected) as info:
        load_manifest(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ManifestError, match="cannot read") as info:
        load_manifest(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "tag",
    ["!!python/object/apply:os.system", "!!python/object/apply:subprocess.call", "!!python/object/new:os.system"],
)
def test_yaml_is_loaded_safely(tmp_path: Path, base: dict[str, Any], tag: str) -> None:
    marker = tmp_path / "pwned"
    path = _write(tmp_path, base)
    text = path.read_text().replace("name: test-run", f'name: test-run\ndescription: {tag} ["touch {marker}"]')
    assert tag in text
    path.write_text(text)
    with pytest.raises(ManifestError, match="YAML"):
        load_manifest(path)
    assert not marker.exists()


# -- hash -----------------------------------------------------------------------------------------------------

# (label, change, whether the hash must change)
HASH_CASES: list[tuple[str, Callable[[dict[str, Any]], None], bool]] = [
    ("output_path", _set("output", "path", value="elsewhere/out"), False),
    ("exports", _set("output", "exports", value=["swift"]), False),
    ("step_option", _set("steps", 1, "max_wer", value=0.5), True),
    ("voice_speed", _set("steps", 0, "voices", 0, "speed", value=[1.0, 1.2]), True),
    ("backend_setting", _set("backends", "asr", "word_error_rate", value=0.1), True),
    ("seed", _set("seed", value=8), True),
    ("shard_size", _set("output", "shard_size", value=5), True),
    ("input_path", _set("input", "path", value="data/other.jsonl"), True),
    ("default_made_explicit", _set("on_error", value="skip"), False),
    ("tts_workers_speed_only", _set("steps", 0, "tts_workers", value=2), False),
    ("serial_speed_only", _set("steps", 0, "pipeline", value=False), False),
    ("asr_batch_changes_batches", _set("steps", 0, "asr_batch", value=4), True),
]


@pytest.mark.parametrize(("mutate", "changes"), [c[1:] for c in HASH_CASES], ids=[c[0] for c in HASH_CASES])
def test_manifest_hash(
    tmp_path: Path, base: dict[str, Any], mutate: Callable[[dict[str, Any]], None], changes: bool
) -> None:
    first = manifest_hash(load_manifest(_write(tmp_path, base)))
    assert manifest_hash(load_manifest(_write(tmp_path, base))) == first  # stable across loads
    data = copy.deepcopy(base)
    mutate(data)
    other = manifest_hash(load_manifest(_write(tmp_path, data, "other.yaml")))
    assert (other != first) is changes
