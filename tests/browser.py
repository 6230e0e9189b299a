"""Headless Chromium screenshots of audit pages, for the tests that check a report renders."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 1100, 1600


def section_page(html: str, section_id: str, folder: Path) -> Path:
    """One `<section>` of a report alone, with the page's styles: its screenshot shows that section."""
    head, start = html[: html.index("<body>")], html.index(f'<section id="{section_id}">')
    page = folder / f"{section_id}.html"
    page.write_text(f"{head}<body><main>{html[start : html.index('</section>', start)]}</section></main></body>")
    return page


def screenshot(tmp_path: Path, uri: str, name: str) -> Path:
    shot = tmp_path / name
    assert CHROMIUM
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", uri,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert shot.exists(), f"no screenshot; chromium said: {done.stderr[-2000:]}"
    return shot
