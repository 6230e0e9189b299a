"""The local Dask cluster's dashboard (logs, workers, task pages) listens on this machine only unless asked."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psutil
import pytest

from datagen.executors.dask import DaskExecutor
from datagen.manifest import load_manifest
from datagen.testing import fake_manifest, write_manifest, write_swift_dataset


def _dashboard_binds(executor: DaskExecutor, manifest: Any) -> set[str]:
    """The addresses the dashboard's port is listening on (the scheduler runs in this process)."""
    client, cluster = executor._client(manifest)
    try:
        port = cluster.scheduler.http_server.port
        listening = psutil.Process(os.getpid()).net_connections(kind="inet")
        return {c.laddr.ip for c in listening if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
    finally:
        client.close()
        cluster.close()


@pytest.mark.parametrize(
    ("address", "expected"),
    [(None, {"127.0.0.1"}), ("127.0.0.1:0", {"127.0.0.1"}), ("0.0.0.0:0", {"0.0.0.0"})],
)
def test_dashboard_binds_to_loopback_unless_asked(tmp_path: Path, address: str | None, expected: set[str]) -> None:
    data = write_swift_dataset(tmp_path / "data", n=1)
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", fake_manifest(data, tmp_path / "out")))
    options = {} if address is None else {"dashboard_address": address}
    assert _dashboard_binds(DaskExecutor(workers=1, progress=False, **options), manifest) == expected


@pytest.mark.parametrize(("argv", "expected"), [([], "127.0.0.1:0"), (["--dashboard-address", ":8787"], ":8787")])
def test_cli_dashboard_address_reaches_the_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], expected: str
) -> None:
    import datagen.run
    from datagen.cli import main

    seen: list[Any] = []

    def fake_run(manifest: Any, *, executor: Any, **_: Any) -> dict:
        seen.append(executor)
        return {"kept": 1, "seen": 1, "dropped_total": 0, "dropped": {}}

    monkeypatch.setattr(datagen.run, "run", fake_run)
    data = write_swift_dataset(tmp_path / "data", n=1)
    manifest = write_manifest(tmp_path / "m.yaml", fake_manifest(data, tmp_path / "out"))
    assert main(["run", str(manifest), "--workers", "2", "--no-progress", *argv]) == 0
    assert isinstance(seen[0], DaskExecutor) and seen[0].dashboard_address == expected
