"""The audit page renders in a real browser: headless Chromium screenshots a fake-engine run's report."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import CHROMIUM, HEIGHT, WIDTH, section_page
from browser import screenshot as _screenshot

import datagen.speech as speech
from datagen.audit import write_report
from datagen.manifest import load_manifest
from datagen.records import Audio
from datagen.run import run
from datagen.testing import fake_manifest, write_manifest, write_swift_dataset
from filters.mos import MosScores


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
    section = section_page(html, "mos", tmp_path)  # the speech-quality section alone, with the page's styles
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
