"""The audit page renders in a real browser: headless Chromium screenshots a fake-engine run's report."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from datagen.audit import write_report
from datagen.manifest import load_manifest
from datagen.run import run
from datagen.testing import fake_manifest, write_manifest, write_swift_dataset

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 1100, 1600


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package `chromium`, in `make install`)")
def test_report_screenshot_is_not_blank(tmp_path: Path) -> None:
    from PIL import Image, ImageStat

    data = write_swift_dataset(tmp_path / "data", n=6, extra_lines=[b"{broken"])
    out = tmp_path / "out"
    run(load_manifest(write_manifest(tmp_path / "m.yaml", fake_manifest(data, out, asr={"word_error_rate": 0.15}))))
    page = write_report(out, tmp_path / "report")
    shot = tmp_path / "shot.png"
    assert CHROMIUM
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}",
        page.resolve().as_uri(),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert shot.exists(), f"no screenshot; chromium said: {done.stderr[-2000:]}"
    with Image.open(shot) as im:
        assert im.size == (WIDTH, HEIGHT)
        gray = im.convert("L")
        assert ImageStat.Stat(gray).stddev[0] > 20  # text, plots and the dark header: far from a blank page
        top = gray.crop((0, 0, WIDTH, 40))
        assert ImageStat.Stat(top).mean[0] < 80  # the dark header rendered, so the CSS applied
