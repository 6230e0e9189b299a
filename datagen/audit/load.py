"""Read a dataset folder for the audit: small per-record / per-turn tables, media only for the few shown samples.

Parquet is streamed batch by batch and only the needed columns are read, so a large dataset costs memory for one
row per record (a few numbers and strings), never its audio or images. Two kinds of folder are understood:
a datagen run (data/, rejects/, stats.json, manifest.yaml, run.json) and a plain `datasets` parquet folder with
audio/text columns; whatever is absent is listed in `missing` so the report can say so.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from datagen.audit.untrusted import (
    MAX_TEXT_CHARS,
    clean_run,
    clean_stats,
    label,
    number,
    read_json,
    read_manifest,
    text_cell,
)
from datagen.shards import LayoutError, OutputDir

log = logging.getLogger(__name__)

BATCH_ROWS = 512
TEXT_COLUMNS = ("text", "sentence", "transcription", "normalized_text", "query", "question", "prompt")
TRANSCRIPT_COLUMNS = ("transcript", "asr_transcript", "hypothesis", "prediction")
MAX_DURATION_ROWS = 5000  # plain parquet: durations come from decoding audio headers, so only this many rows


@dataclass
class DatasetFolder:
    root: Path
    kind: str  # "datagen" | "parquet"
    data_files: list[Path]
    reject_files: list[Path] = field(default_factory=list)
    stats: dict[str, Any] | None = None
    run: dict[str, Any] | None = None
    manifest_text: str | None = None
    manifest: dict[str, Any] = field(default_factory=dict)  # parsed within datagen.safe_yaml's caps, else {}
    missing: list[str] = field(default_factory=list)
    columns: dict[str, str | None] = field(default_factory=dict)  # plain parquet: role -> column name

    def steps(self) -> list[dict[str, Any]]:
        steps = self.manifest.get("steps")
        return [s for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []

    def max_wer(self) -> float | None:
        for step in self.steps():
            if step.get("step") == "max_wer":
                return number(step.get("max_wer", 0.2))
        return None

    def step_order(self) -> list[str]:
        return ["read"] + [str(s.get("step")) for s in self.steps()]


def open_dataset(path: str | Path) -> DatasetFolder:
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist")
    if root.is_file():
        files, base = [root], root.parent
    else:
        base = root
        try:
            layout = OutputDir.open(root)
            files = layout.data_files() + layout.stray_files()  # a foreign file in data/ is read or reported
        except LayoutError:  # a plain parquet folder: every parquet file below it, rejects aside
            files = sorted(
                p for p in root.rglob("*.parquet") if "rejects" not in p.parts and not p.name.startswith(".")
            )
    if not files:
        raise FileNotFoundError(f"{root} holds no parquet files")
    unreadable = [p for p in files if not _readable(p)]
    files = [p for p in files if p not in unreadable]
    if not files:
        raise FileNotFoundError(f"{root} holds no readable parquet files ({len(unreadable)} unreadable)")
    schema = pq.read_schema(files[0])
    ours = "speech" in schema.names or (base / "run.json").exists()  # CoT/DPO runs have no speech column
    kind = "datagen" if "messages" in schema.names and ours else "parquet"
    folder = DatasetFolder(root=base, kind=kind, data_files=files)
    folder.reject_files = [p for p in OutputDir(base).reject_files() if _readable(p)]
    if unreadable:
        names = ", ".join(p.name for p in unreadable[:5])
        folder.missing.append(f"{len(unreadable)} unreadable parquet file(s) skipped ({names})")
    folder.stats = clean_stats(read_json(base / "stats.json"))
    folder.run = clean_run(read_json(base / "run.json"))
    folder.manifest_text, folder.manifest, note = read_manifest(base / "manifest.yaml")
    if note:
        folder.missing.append(note)
    if not folder.reject_files:
        folder.missing.append("rejects/: dropped records are unknown (yield shows kept records only)")
    if folder.stats is None:
        folder.missing.append("stats.json: no drop counts from the run and no cost accounting (model-seconds)")
    if folder.run is None:
        folder.missing.append("run.json: no run hash, input fingerprint or datagen version")
    if kind == "parquet":
        folder.columns = _plain_columns(schema)
        if not folder.columns.get("text"):
            folder.missing.append(f"a text column (one of {', '.join(TEXT_COLUMNS)}): no WER")
        if not folder.columns.get("transcript") and "wer" not in schema.names:
            folder.missing.append(f"a transcript column (one of {', '.join(TRANSCRIPT_COLUMNS)}) or wer: no WER")
        if not folder.columns.get("audio"):
            folder.missing.append("an audio column: no durations, nothing to listen to")
    return folder


def _media_field(t: pa.DataType) -> bool:
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        t = t.value_type
    return pa.types.is_struct(t) and t.get_field_index("bytes") >= 0


def _plain_columns(schema: pa.Schema) -> dict[str, str | None]:
    names = set(schema.names)

    def first(options: Sequence[str]) -> str | None:
        return next((c for c in options if c in names), None)

    media = [f.name for f in schema if _media_field(f.type)]
    audio = next((c for c in media if "audio" in c.lower()), None)
    image = next((c for c in media if "image" in c.lower()), None)
    return {
        "text": first(TEXT_COLUMNS),
        "transcript": first(TRANSCRIPT_COLUMNS),
        "wer": "wer" if "wer" in names else None,
        "pass_rate": "pass_rate" if "pass_rate" in names else None,
        "id": "id" if "id" in names else None,
        "audio": audio,
        "image": image,
    }


def _readable(path: Path) -> bool:
    """Its footer parses (a truncated or foreign file is skipped with a note, not a traceback)."""
    try:
        pq.ParquetFile(path).close()
    except (pa.ArrowException, OSError):
        return False
    return True


def _batches(path: Path, columns: list[str]) -> Iterator[list[dict[str, Any]]]:
    """Rows batch by batch; a page that fails to decode ends this file's rows (the rows before it still count)."""
    pf = pq.ParquetFile(path)
    present = [c for c in columns if c in pf.schema_arrow.names]
    try:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=present):
            yield batch.to_pylist()
    except (pa.ArrowException, OSError) as err:
        log.warning("audit: %s: stopped reading at a broken page: %s", path, err)


def read_tables(folder: DatasetFolder) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(records, turns): one row per record (kept and dropped) and one per spoken turn that was transcribed.

    records: id, status, step, reason, wer, mos, pass_rate, file, row.  turns: id, status, turn, text, transcript,
    wer, mos (DNSMOS OVRL), takes (syntheses spoken), words, duration, tts, voice, speed, asr, audio (index into the
    record's audios), file, row.
    """
    if folder.kind == "parquet":
        return _plain_tables(folder)
    records: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for path in folder.data_files:
        row = 0
        for batch in _batches(path, ["id", "wer", "mos", "pass_rate", "speech", "messages"]):
            for r in batch:
                meta = {k: r.get(k) for k in ("wer", "mos", "pass_rate", "speech")}
                _add(
                    records,
                    turns,
                    str(r.get("id"))[:MAX_TEXT_CHARS],
                    "kept",
                    None,
                    None,
                    meta,
                    r.get("messages"),
                    path,
                    row,
                )
                row += 1
    for path in folder.reject_files:
        row = 0
        for batch in _batches(path, ["id", "reason", "step", "meta", "messages"]):
            for r in batch:
                try:
                    meta = json.loads(r.get("meta") or "{}")
                except (ValueError, TypeError, RecursionError):
                    meta = {}
                meta = meta if isinstance(meta, dict) else {}
                step, reason = label(r.get("step")), label(r.get("reason"))
                _add(
                    records,
                    turns,
                    str(r.get("id"))[:MAX_TEXT_CHARS],
                    "dropped",
                    step,
                    reason,
                    meta,
                    r.get("messages"),
                    path,
                    row,
                )
                row += 1
    return pd.DataFrame(records, columns=_RECORD_COLUMNS), pd.DataFrame(turns, columns=_TURN_COLUMNS)


_RECORD_COLUMNS = ["id", "status", "step", "reason", "wer", "mos", "pass_rate", "file", "row"]
_TURN_COLUMNS = [
    "id", "status", "reason", "turn", "text", "transcript", "wer", "mos", "takes", "words", "duration",
    "tts", "voice", "speed", "asr", "audio", "file", "row",
]  # fmt: skip


def _add(
    records: list[dict[str, Any]],
    turns: list[dict[str, Any]],
    rid: Any,
    status: str,
    step: str | None,
    reason: str | None,
    meta: dict[str, Any],
    messages: list[dict[str, Any]] | None,
    path: Path,
    row: int,
) -> None:
    where = {"file": str(path), "row": row}
    rid = str(rid)[:MAX_TEXT_CHARS]
    records.append(
        {"id": rid, "status": status, "step": step, "reason": reason, "wer": number(meta.get("wer")),
         "mos": number(meta.get("mos")), "pass_rate": number(meta.get("pass_rate")), **where}
    )  # fmt: skip
    speech = meta.get("speech")
    for sp in speech if isinstance(speech, list) else []:
        if not isinstance(sp, dict):
            continue
        turn = sp.get("turn") if isinstance(sp.get("turn"), int) and not isinstance(sp.get("turn"), bool) else None
        audio = None
        if isinstance(messages, list) and turn is not None and 0 <= turn < len(messages):
            message = messages[turn]
            audio = number(message.get("audio")) if isinstance(message, dict) else None
        text = text_cell(sp.get("text")) or ""
        takes = sp.get("attempts")
        turns.append(
            {
                "id": rid, "status": status, "reason": reason, "turn": turn, "text": text,
                "transcript": text_cell(sp.get("transcript")), "wer": number(sp.get("wer")),
                "mos": number(sp.get("mos")), "takes": len(takes) if isinstance(takes, list) else None,
                "words": len(text.split()),
                "duration": number(sp.get("duration")), "tts": label(sp.get("tts")), "voice": label(sp.get("voice")),
                "speed": number(sp.get("speed")), "asr": label(sp.get("asr")), "audio": audio, **where,
            }
        )  # fmt: skip


def _plain_tables(folder: DatasetFolder) -> tuple[pd.DataFrame, pd.DataFrame]:
    from filters.wer import wer as compute_wer

    cols = folder.columns
    wanted = [c for c in (cols.get("id"), cols["text"], cols["transcript"], cols["wer"], cols["pass_rate"]) if c]
    records: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    n = 0
    for path in folder.data_files:
        row = 0
        for batch in _batches(path, wanted):
            for r in batch:
                rid = str(r.get(cols["id"]) if cols.get("id") else n)[:MAX_TEXT_CHARS]
                text = text_cell(r.get(cols["text"])) if cols["text"] else None
                transcript = text_cell(r.get(cols["transcript"])) if cols["transcript"] else None
                value = number(r.get(cols["wer"])) if cols["wer"] else None
                if value is None and text is not None and transcript is not None:
                    value = compute_wer(text, transcript)
                where = {"file": str(path), "row": row}
                records.append(
                    {"id": rid, "status": "kept", "step": None, "reason": None, "wer": value, "mos": None,
                     "pass_rate": number(r.get(cols["pass_rate"])) if cols["pass_rate"] else None, **where}
                )  # fmt: skip
                if text is not None or cols["audio"]:
                    turns.append(
                        {"id": rid, "status": "kept", "reason": None, "turn": 0, "text": text or "",
                         "transcript": transcript, "wer": value, "mos": None, "takes": None,
                         "words": len((text or "").split()), "duration": None,
                         "tts": None, "voice": None, "speed": None, "asr": None, "audio": 0, **where}
                    )  # fmt: skip
                row += 1
                n += 1
    turns_df = pd.DataFrame(turns, columns=_TURN_COLUMNS)
    if cols["audio"] and len(turns_df):
        durations = _plain_durations(folder)
        turns_df["duration"] = [durations.get((f, r)) for f, r in zip(turns_df["file"], turns_df["row"], strict=True)]
    return pd.DataFrame(records, columns=_RECORD_COLUMNS), turns_df


def _plain_durations(folder: DatasetFolder) -> dict[tuple[str, int], float]:
    """Durations from the audio headers of the first MAX_DURATION_ROWS rows (decoding is the expensive part)."""
    column = folder.columns["audio"]
    assert column
    out: dict[tuple[str, int], float] = {}
    for path in folder.data_files:
        row = 0
        for batch in _batches(path, [column]):
            for r in batch:
                blob = _first_bytes(r.get(column))
                seconds = _duration(blob) if blob else None
                if seconds is not None:
                    out[(str(path), row)] = seconds
                row += 1
                if len(out) >= MAX_DURATION_ROWS:
                    return out
    return out


def _first_bytes(value: Any, index: int = 0) -> bytes | None:
    if isinstance(value, list):
        value = value[index] if 0 <= index < len(value) else None
    blob = value.get("bytes") if isinstance(value, dict) else None
    return blob if isinstance(blob, bytes) else None  # a string "bytes" field is no media


def _duration(blob: bytes) -> float | None:
    import soundfile

    try:
        info = soundfile.info(io.BytesIO(blob))
    except Exception:  # undecodable audio is reported as missing, never fatal to the audit
        return None
    return round(info.frames / info.samplerate, 3) if info.samplerate else None


def read_media(folder: DatasetFolder, picks: Sequence[tuple[str, int, int | None]]) -> dict[tuple[str, int], dict]:
    """(file, row, audio index) → {"audio": bytes | None, "image": bytes | None}, reading only those rows' files."""
    by_file: dict[str, dict[int, int | None]] = {}
    for file, row, audio in picks:
        by_file.setdefault(file, {})[row] = audio
    audio_col = folder.columns.get("audio") if folder.kind == "parquet" else "audios"
    image_col = folder.columns.get("image") if folder.kind == "parquet" else "images"
    out: dict[tuple[str, int], dict] = {}
    for file, rows in by_file.items():
        wanted = [c for c in (audio_col, image_col) if c]
        pf = pq.ParquetFile(file)
        present = [c for c in wanted if c in pf.schema_arrow.names]
        if not present:
            continue
        start = 0
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=present):
            hits = [r for r in rows if start <= r < start + batch.num_rows]
            if hits:
                table = batch.take(pa.array([r - start for r in hits])).to_pylist()
                for r, values in zip(hits, table, strict=True):
                    index = rows[r]
                    out[(file, r)] = {
                        "audio": _first_bytes(values.get(audio_col), index or 0) if audio_col else None,
                        "image": _first_bytes(values.get(image_col)) if image_col else None,
                    }
            start += batch.num_rows
    return out
