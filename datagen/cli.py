"""`datagen` command line: run | validate | export | filter | audit | calibrate-wer | steps | backends."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datagen import __version__

if TYPE_CHECKING:
    from datagen.manifest import Manifest
    from datagen.readers import Plan


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if getattr(args, "input", None):
        found["input.path"] = args.input
    if getattr(args, "out", None):
        found["output.path"] = args.out
    if getattr(args, "limit", None):
        found["input.limit"] = args.limit
    if getattr(args, "media_root", None):
        found["input.media_root"] = args.media_root
    return found


def cmd_run(args: argparse.Namespace) -> int:
    from datagen.executors.local import LocalExecutor
    from datagen.manifest import load_manifest
    from datagen.run import run

    manifest = load_manifest(args.manifest, _overrides(args))
    kind = args.executor or ("dask" if (args.workers or 1) > 1 or args.scheduler else "local")
    if kind == "dask":
        import os

        from datagen.executors.dask import LOOPBACK_DASHBOARD, DaskExecutor

        executor: Any = DaskExecutor(
            workers=args.workers or os.cpu_count() or 1,
            scheduler=args.scheduler,
            retries=args.retries,
            max_in_flight=args.max_in_flight,
            gpus_per_shard=args.gpus_per_shard,
            progress=not args.no_progress,
            dashboard_address=args.dashboard_address or LOOPBACK_DASHBOARD,
        )
    elif args.scheduler or (args.workers or 1) > 1:
        print("datagen: error: --workers N > 1 and --scheduler run on Dask: drop --executor local", file=sys.stderr)
        return 2
    else:
        executor = LocalExecutor(retries=args.retries, progress=not args.no_progress)
    stats = run(
        manifest, executor=executor, overwrite=args.overwrite, on_plan=lambda plan: _print_input(manifest, plan)
    )
    print(f"{stats['kept']} kept of {stats['seen']} ({stats['dropped_total']} dropped) -> {manifest.output.path}")
    for reason, n in stats["dropped"].items():
        print(f"  dropped {n:6d}  {reason}")
    if not stats["kept"]:  # scripts must notice a run that made nothing
        from datagen.card import nothing_kept

        print(f"datagen: {nothing_kept(stats)}", file=sys.stderr)
        return 1
    return 0


def _print_input(manifest: Manifest, plan: Plan | None = None) -> Plan:
    """The input's format, size, detected layout(s) and column mapping, before any work starts."""
    from datagen.layouts import describe
    from datagen.readers import open_input

    source = open_input(manifest.input)
    plan = plan or source.plan(manifest.output.shard_size, manifest.input.limit)
    fields = f"input.fields {manifest.input.fields}" if manifest.input.fields else "auto-detected fields"
    print(f"input: {manifest.input.path} ({plan.format}, {plan.total} records; {fields}) {describe(source, plan)}")
    return plan


def cmd_validate(args: argparse.Namespace) -> int:
    from datagen.manifest import load_manifest

    manifest = load_manifest(args.manifest, _overrides(args))
    plan = _print_input(manifest)
    steps = " → ".join(s.step for s in manifest.steps)
    print(f"{args.manifest}: ok — {plan.total} records in {len(plan.shards)} shard(s) ({plan.format}); steps: {steps}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from datagen.export import export

    path = export(Path(args.dataset), args.format, Path(args.out) if args.out else None)
    print(f"wrote {path}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from datagen.audit import report_path, write_report

    try:
        report_path(args.out, args.format)
    except ValueError as err:
        print(f"datagen: error: {err}", file=sys.stderr)
        return 2
    opts = {"target_yield": args.target_yield, "max_false_accept": args.max_false_accept}
    path = write_report(args.dataset, args.out, fmt=args.format, worst=args.worst, **opts)
    print(f"wrote {path}")
    return 0


def cmd_calibrate_wer(args: argparse.Namespace) -> int:
    from datagen.calibrate import print_calibration

    print_calibration(args.dataset, args.out, target_yield=args.target_yield, max_false_accept=args.max_false_accept)
    return 0


def cmd_filter(args: argparse.Namespace) -> int:
    from datagen.refilter import load_curate_manifest, refilter

    manifest = load_curate_manifest(args.manifest)
    stats = refilter(Path(args.dataset), manifest, Path(args.out), overwrite=args.overwrite)
    before = stats["filtered_from"]["kept"]
    print(
        f"{stats['kept']} kept of {before if before is not None else '?'} "
        f"({stats['filtered_from']['newly_dropped']} newly dropped) -> {args.out}"
    )
    for reason, n in stats["dropped"].items():
        print(f"  dropped {n:6d}  {reason}")
    if not stats["kept"]:  # as `datagen run`: a script must notice a filter that kept nothing
        from datagen.card import nothing_kept

        print(f"datagen: {nothing_kept(stats)}", file=sys.stderr)
        return 1
    return 0


def cmd_steps(args: argparse.Namespace) -> int:
    from datagen import registry

    for title, table, attr in (("steps", registry.STEPS, "Config"), ("backends", registry.BACKENDS, "Settings")):
        print(f"{title}:")
        for name in table:
            cls = registry.load_class(table[name])
            doc = (cls.__module__ and sys.modules[cls.__module__].__doc__ or "").strip().splitlines()[0]
            print(f"  {name:18s} {doc}")
            if args.verbose:
                for field, info in getattr(cls, attr).model_fields.items():
                    default = "required" if info.is_required() else json.dumps(info.default, default=str)
                    print(f"      {field}: {default}  {info.description or ''}")
    return 0


def cmd_backends(args: argparse.Namespace) -> int:
    """Every registered engine: the roles it can play, whether it runs here (and why not), its voices when cheap."""
    from datagen import registry
    from datagen.backends.base import ROLES, Synthesizer, lacks

    rows = []
    for name, path in registry.BACKENDS.items():
        cls = registry.load_class(path)
        can = [verb for verb, role in ROLES.items() if not lacks(cls, role)]
        reason = cls.unavailable_reason()
        voices: list[str] | None = None
        if reason is None and not lacks(cls, Synthesizer):
            try:
                voices = list(cls().voices())  # default settings; engines needing a model path raise here
            except Exception as exc:  # noqa: BLE001 - a listing must never fail on one engine
                voices = None
                logging.getLogger(__name__).info("%s: no voices with default settings: %s", name, exc)
        rows.append({"engine": name, "can": can, "usable": reason is None, "reason": reason, "voices": voices})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        status = "ok" if row["usable"] else f"unavailable: {row['reason']}"
        print(f"{row['engine']:16s} {'+'.join(row['can']):22s} {status}")
        if row["voices"]:
            more = len(row["voices"]) - 8
            shown = ", ".join(row["voices"][:8]) + (f" (+{more} more)" if more > 0 else "")
            print(f"{'':16s} voices: {shown}")
    return 0


def _add_export_parser(sub: Any) -> None:
    from datagen.export import FORMATS

    e = sub.add_parser(
        "export",
        help="export a finished dataset to a trainer's format",
        description="Write DIR's kept records as FORMAT into a folder with the media beside it: swift and trl "
        "write SPLIT.jsonl + images/ + audios/; lhotse writes SPLIT_cuts.jsonl.gz + audios/; nemo writes "
        "SPLIT_manifest.json + audios/; each also export.json (what the folder holds).",
    )
    e.add_argument("dataset", help="output folder of a run")
    e.add_argument("--format", default="swift", choices=FORMATS, help="default: swift")
    e.add_argument(
        "--out", help="folder to write (default: DIR/export/FORMAT); refused if it holds files of anything else"
    )
    e.set_defaults(func=cmd_export)


def _add_audit_parsers(sub: Any) -> None:
    a = sub.add_parser("audit", help="report on a dataset: yield funnel, WER, voices, worst samples, cost")
    a.add_argument("dataset", help="output folder of a run, or a parquet dataset folder with audio/text columns")
    a.add_argument(
        "--out",
        default="report",
        help="a path ending in .html (or .json) is the report file; anything else a folder that gets "
        "report.html / report.json (default: report/)",
    )
    a.add_argument("--format", default="html", choices=["html", "json"], help="default: html (or the --out suffix)")
    a.add_argument("--worst", type=int, default=12, help="how many highest-WER samples to embed")
    c = sub.add_parser("calibrate-wer", help="yield and estimated false rejects/accepts for each max_wer")
    c.add_argument("dataset", help="output folder of a run (kept and rejected records carry their WER)")
    c.add_argument("--out", help="folder for calibration.json and calibration.png")
    for parser in (a, c):
        parser.add_argument("--target-yield", type=float, default=0.9, help="share kept the recommendation aims for")
        parser.add_argument("--max-false-accept", type=float, default=0.05, help="highest est. false-accept share")
    a.set_defaults(func=cmd_audit)
    c.set_defaults(func=cmd_calibrate_wer)


def _add_run_parsers(sub: Any) -> None:
    """`run` and `validate`, which read the same manifest and overrides."""
    r = sub.add_parser("run", help="run a manifest: source → steps → sharded dataset (resumes where it stopped)")
    r.add_argument("manifest", help="run manifest (YAML)")
    r.add_argument("--input", help="input data file or folder (overrides input.path)")
    r.add_argument("--out", help="output folder (overrides output.path)")
    r.add_argument("--limit", type=int, help="read at most N records")
    r.add_argument("--media-root", help="folder relative image paths resolve in (overrides input.media_root)")
    r.add_argument(
        "--executor", choices=["local", "dask"], help="where shards run (default: dask with --workers N>1/--scheduler)"
    )
    r.add_argument("--workers", type=int, help="local Dask cluster of N worker processes (default: one per core)")
    r.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786)")
    r.add_argument("--retries", type=int, default=2, help="attempts per failed shard after the first")
    r.add_argument("--max-in-flight", type=int, help="Dask: shard tasks submitted at once (default: 2 per worker)")
    r.add_argument(
        "--gpus-per-shard",
        type=float,
        help="Dask: GPU resource each shard task asks for (default: 1 if a backend's device is cuda, else 0)",
    )
    r.add_argument(
        "--dashboard-address",
        help="Dask: where the local cluster's dashboard listens (default 127.0.0.1:0, this machine only, "
        "a free port; e.g. 0.0.0.0:8787 opens it to the network)",
    )
    r.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an output folder holding another datagen run (only datagen's files are removed; an --out "
        "holding the input or files datagen did not write is refused)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check a manifest and its input without loading any model")
    v.add_argument("manifest")
    v.add_argument("--input")
    v.add_argument("--out")
    v.add_argument("--limit", type=int)
    v.add_argument("--media-root")
    v.set_defaults(func=cmd_validate)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="datagen", description=__doc__)
    p.add_argument("--version", action="version", version=f"datagen {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = p.add_subparsers(dest="command", required=True)

    _add_run_parsers(sub)
    _add_export_parser(sub)
    _add_audit_parsers(sub)

    f = sub.add_parser("filter", help="re-apply filter steps to a finished dataset (no backends)")
    f.add_argument("dataset", help="output folder of a run")
    f.add_argument("--manifest", required=True, help="curate manifest (YAML): name and filter steps")
    f.add_argument("--out", required=True, help="folder for the filtered dataset")
    f.add_argument("--overwrite", action="store_true", help="replace what --out holds")
    f.set_defaults(func=cmd_filter)

    s = sub.add_parser("steps", help="list the steps and backends a manifest can use")
    s.add_argument("--verbose", "-v", action="store_true", help="show each one's options")
    s.set_defaults(func=cmd_steps)

    b = sub.add_parser("backends", help="list the engines, what each can do and whether it runs on this machine")
    b.add_argument("--json", action="store_true", help="machine-readable output")
    b.set_defaults(func=cmd_backends)
    return p


def main(argv: list[str] | None = None) -> int:
    from datagen.backends.base import BackendError
    from datagen.export_media import ExportError
    from datagen.manifest import ManifestError
    from datagen.readers import SourceError
    from datagen.run import RunMismatchError
    from filters.contamination import BenchmarkError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except (
        ManifestError,
        SourceError,
        RunMismatchError,
        BackendError,
        FileNotFoundError,
        ExportError,
        BenchmarkError,
    ) as err:
        print(f"datagen: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
