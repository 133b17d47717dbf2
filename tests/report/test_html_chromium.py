"""The HTML report in a real browser: headless Chromium (Debian's `chromium` package, which
`make test` installs) loads report.html from disk, and the report's own script records on <body>
how many <img> decoded (naturalWidth > 0). Every chart must have loaded."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from loadtnt.live import browser
from loadtnt.report import build_report

CHROMIUM = browser.find()

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not installed (apt-get install -y chromium, or `make chromium`)")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = browser.command(tmp_path / "profile", "--virtual-time-budget=10000", *args,
                          binary=CHROMIUM)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, seed_result_path: Path) -> Path:
    out = tmp_path_factory.mktemp("html-report")
    paths = build_report([seed_result_path], out)
    return next(p for p in paths if p.name == "report.html")


@pytest.mark.timeout(180)
def test_every_chart_loads_in_chromium(report: Path, tmp_path: Path) -> None:
    proc = chromium(tmp_path, "--dump-dom", report.as_uri())
    body = re.search(r"<body[^>]*>", proc.stdout)
    assert body, f"no DOM from chromium (exit {proc.returncode}): {proc.stderr[-2000:]}"
    attrs = dict(re.findall(r'(data-images-[a-z]+)="(\d+)"', body.group(0)))
    expected = len(list(report.parent.glob("*.png")))
    assert expected == 6
    assert attrs.get("data-images-total") == str(expected), body.group(0)
    assert attrs.get("data-images-loaded") == str(expected), (
        "charts that did not decode: "
        + ", ".join(re.findall(r'data-chart="([^"]+)"[^>]*data-broken', proc.stdout)))
    assert 'data-broken="1"' not in proc.stdout


@pytest.mark.timeout(180)
def test_report_screenshot_is_not_blank(report: Path, tmp_path: Path) -> None:
    from matplotlib import image as mpimg

    shot = tmp_path / "shot.png"
    proc = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", report.as_uri())
    assert shot.exists(), proc.stderr[-2000:]
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[1] == 1280
    assert (pixels.mean(axis=2) < 0.9).mean() > 0.05  # text, tables and charts, not a blank page
