"""The audit page renders in a real browser: headless Chromium screenshots a fake-engine run's report."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import datagen.speech as speech
from datagen.audit import write_report
from datagen.manifest import load_manifest
from datagen.records import Audio
from datagen.run import run
from datagen.testing import fake_manifest, write_manifest, write_swift_dataset
from filters.mos import MosScores

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 1100, 1600


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package `chromium`, in `make install`)")
def test_report_screenshot_is_not_blank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image, ImageStat

    def fake_mos(audio: Audio) -> MosScores:  # DNSMOS stand-in: longer (slower) fake clips rate higher
        ovrl = min(3.4, 1.5 + len(audio.array) / audio.sampling_rate * 2.5)
        return MosScores(ovrl, ovrl, 4.0, ovrl)

    monkeypatch.setattr(speech, "score_mos", fake_mos)
    data = write_swift_dataset(tmp_path / "data", n=6, extra_lines=[b"{broken"])
    out = tmp_path / "out"
    spec = fake_manifest(data, out, asr={"word_error_rate": 0.15}, mos=True)
    run(load_manifest(write_manifest(tmp_path / "m.yaml", spec)))
    page = write_report(out, tmp_path / "report")
    html = page.read_text()
    head, start = html[: html.index("<body>")], html.index('<section id="mos">')
    section = tmp_path / "mos.html"  # the speech-quality section alone, with the page's styles
    section.write_text(f"{head}<body><main>{html[start : html.index('</section>', start)]}</section></main></body>")
    assert 'alt="MOS vs WER"' in section.read_text()
    with Image.open(_screenshot(tmp_path, section.resolve().as_uri(), "mos.png")) as im:
        assert ImageStat.Stat(im.convert("L")).stddev[0] > 20  # a table and a scatter plot, not a blank page
    shot = _screenshot(tmp_path, page.resolve().as_uri(), "shot.png")
    with Image.open(shot) as im:
        assert im.size == (WIDTH, HEIGHT)
        gray = im.convert("L")
        assert ImageStat.Stat(gray).stddev[0] > 20  # text, plots and the dark header: far from a blank page
        top = gray.crop((0, 0, WIDTH, 40))
        assert ImageStat.Stat(top).mean[0] < 80  # the dark header rendered, so the CSS applied


def _screenshot(tmp_path: Path, uri: str, name: str) -> Path:
    shot = tmp_path / name
    assert CHROMIUM
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", uri,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert shot.exists(), f"no screenshot; chromium said: {done.stderr[-2000:]}"
    return shot
