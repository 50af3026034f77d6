"""The dashboard's pictures in the README and the docs come from ``python -m bench.screenshots``: every picture
they show is one the script makes (and is there), and the script makes each of them at its size from the
running dashboard, so a picture cannot show a page the UI no longer has."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from pathlib import Path

from bench.screenshots import OUT, SHOTS
from tests.browser import require

REPO = Path(__file__).resolve().parents[2]
PAGES = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))


def pictures(page: Path) -> set[Path]:
    """The images a Markdown page shows (``![..](path)`` and ``<img src="path">``), as files."""
    text = page.read_text(encoding="utf-8")
    found = re.findall(r"!\[[^\]]*\]\(([^)\s]+\.png)\)", text) + re.findall(r'<img [^>]*src="([^"]+\.png)"', text)
    return {(page.parent / name).resolve() for name in found}


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return int(width), int(height)


def test_the_docs_show_only_pictures_the_screenshot_script_makes():
    made = {(OUT / shot.name).resolve() for shot in SHOTS}
    shown = {page.name: pictures(page) for page in PAGES}
    assert shown["README.md"], "the README shows the dashboard"
    for page, paths in shown.items():
        assert paths <= made, f"{page} shows pictures no script makes: {sorted(map(str, paths - made))}"
    assert set().union(*shown.values()) == made, "the script makes pictures no page shows"
    for path in made:
        assert path.exists(), f"{path} is missing: run python -m bench.screenshots"


def test_the_screenshot_script_makes_every_picture_at_its_size(tmp_path):
    require()
    done = subprocess.run(
        [sys.executable, "-m", "bench.screenshots", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    for shot in SHOTS:
        width, height = png_size(tmp_path / shot.name)
        assert width == shot.width, (shot.name, width)
        assert height >= (1688 if shot.phone else 900), (shot.name, height)  # a whole screen at least
