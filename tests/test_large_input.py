"""Large inputs: with a limit, planning reads only the records it needs, never the whole file."""

from __future__ import annotations

import json
import os
import threading

import pytest

from datagen.readers import open_source
from datagen.testing import swift_record, tiny_png

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")


@pytest.mark.parametrize(("limit", "shard_size", "shards"), [(3, 2, [(0, 2), (2, 3)]), (1, 5, [(0, 1)])])
def test_limit_stops_reading_a_jsonl_plan_early(tmp_path, limit, shard_size, shards):
    """The input is a pipe whose writer never ends it: a plan that read to the end of the file would block."""
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "0.png").write_bytes(tiny_png())
    pipe = tmp_path / "endless.jsonl"
    os.mkfifo(pipe)
    release = threading.Event()

    def writer() -> None:
        with pipe.open("w") as f:
            for i in range(limit + 2):  # more than the limit, then the stream stays open
                f.write(json.dumps(swift_record(i, image="images/0.png")) + "\n")
            f.flush()
            release.wait()

    threading.Thread(target=writer, daemon=True).start()
    plans = []
    planner = threading.Thread(target=lambda: plans.append(open_source(pipe).plan(shard_size, limit)), daemon=True)
    planner.start()
    planner.join(timeout=30)  # a safety net only: a correct plan returns as soon as it has `limit` records
    release.set()
    assert not planner.is_alive(), "plan() kept reading past the limit"
    plan = plans[0]
    assert plan.total == limit
    assert [(s.start, s.stop) for s in plan.shards] == shards
