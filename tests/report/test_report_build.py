"""build_report on the stored fixtures: every chart a valid, non-trivial PNG; HTML and Markdown
carry the seed-style tables; missing optional fields degrade instead of failing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from loadtnt.report import build_report, report_main
from loadtnt.report.load import ResultFileError, load_result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def seed_report(tmp_path_factory: pytest.TempPathFactory, seed_result_path: Path) -> list[Path]:
    return build_report([seed_result_path], tmp_path_factory.mktemp("seed-report"))


@pytest.fixture(scope="module")
def open_loop_report(tmp_path_factory: pytest.TempPathFactory,
                     open_loop_result_path: Path) -> list[Path]:
    return build_report([open_loop_result_path], tmp_path_factory.mktemp("open-report"))


def assert_real_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path.name} is not a PNG"
    assert len(data) > 20_000, f"{path.name} is suspiciously small ({len(data)} bytes)"
    pixels = mpimg.imread(path)[..., :3]
    height, width = pixels.shape[:2]
    assert width >= 800 and height >= 300, f"{path.name} is {width}x{height}"
    ink = (pixels.mean(axis=2) < 0.9).mean()  # share of non-white pixels
    assert ink > 0.02, f"{path.name} is almost blank ({ink:.1%} ink)"
    assert float(np.std(pixels)) > 0.05, f"{path.name} has no contrast"
    colours = len(np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert colours > 50, f"{path.name} has only {colours} colours"


def names(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_seed_report_writes_every_chart(seed_report: list[Path]) -> None:
    assert names(seed_report) == [
        "throughput.png", "latency-asyncio.png", "latency-uvloop.png", "timeline-asyncio.png",
        "timeline-uvloop.png", "errors.png", "report.html", "summary.md"]
    for p in seed_report:
        if p.suffix == ".png":
            assert_real_png(p)


def test_open_loop_report_has_no_error_chart(open_loop_report: list[Path]) -> None:
    assert names(open_loop_report) == [
        "throughput.png", "latency-uvloop.png", "timeline-uvloop.png", "report.html",
        "summary.md"]
    for p in open_loop_report:
        if p.suffix == ".png":
            assert_real_png(p)


def test_html_is_self_contained(seed_report: list[Path]) -> None:
    html = next(p for p in seed_report if p.name == "report.html").read_text()
    pngs = [p for p in seed_report if p.suffix == ".png"]
    assert html.count("<img ") == len(pngs)
    assert html.count("src='data:image/png;base64,") == len(pngs)
    assert "http://" not in html and "https://" not in html
    for text in ("asyncio — median requests/s", "uvloop — median requests/s",
                 "AMD EPYC 7B13 × 2", "Tarantool 2.11.1", "<td>drivers.asynctnt</td><td>2.4.0</td>",
                 "wal_mode",
                 "db:ER_TUPLE_FOUND", "data-images-loaded"):
        assert text in html, text


def test_markdown_summary_has_seed_tables(seed_report: list[Path]) -> None:
    md = next(p for p in seed_report if p.name == "summary.md").read_text()
    assert md.count("| request | loadtnt | asynctnt | aiotarantool |") == 4  # rps and p99, 2 loops
    assert "## uvloop: median requests/s" in md
    assert "![Throughput by request type](throughput.png)" in md
    ping = next(line for line in md.splitlines() if line.startswith("| ping |"))
    assert ping.split("|")[2].strip().startswith("**")  # loadtnt is the fastest: bold


def test_missing_optional_fields_degrade(tmp_path: Path, seed_result_path: Path) -> None:
    data = json.loads(seed_result_path.read_text())
    for run in data["runs"]:
        for key in ("timeline", "histogram", "latency_us", "errors_by_kind", "rps"):
            run.pop(key, None)
        run["errors"] = 0
    for key in ("environment", "server", "scenario"):
        data.pop(key)
    src = tmp_path / "bare.json"
    src.write_text(json.dumps(data))
    paths = build_report([src], tmp_path / "out")
    assert names(paths) == ["throughput.png", "report.html", "summary.md"]
    assert_real_png(paths[0])
    assert "<img " in paths[1].read_text()


def test_two_files_are_labelled_by_file(tmp_path: Path, seed_result_path: Path,
                                        open_loop_result_path: Path) -> None:
    paths = build_report([seed_result_path, open_loop_result_path], tmp_path / "both")
    md = paths[-1].read_text()
    assert "loadtnt [seed-suite]" in md and "loadtnt [open-loop]" in md
    assert_real_png(tmp_path / "both" / "throughput.png")


def test_bad_format_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something-else", "runs": []}))
    with pytest.raises(ResultFileError, match="bad.json: format is 'something-else'"):
        load_result(bad)
    assert report_main([str(bad), "--out", str(tmp_path / "o"), "-q"]) == 2
    (tmp_path / "broken.json").write_text("{")
    assert report_main([str(tmp_path / "broken.json"), "-q"]) == 2


def test_seed_tables_carry_the_loadtnt_asynctnt_ratio(seed_report: list[Path]) -> None:
    md = next(p for p in seed_report if p.name == "summary.md").read_text()
    assert "| request | loadtnt | asynctnt | aiotarantool | loadtnt / asynctnt |" in md
    ping = next(line for line in md.splitlines() if line.startswith("| ping |"))
    assert ping.rstrip(" |").endswith("×")


def test_loadtnt_cli_wires_the_subcommands(tmp_path: Path, seed_result_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    cli = pytest.importorskip("loadtnt.cli")
    out = tmp_path / "via-cli"
    assert cli.main(["report", str(seed_result_path), "--out", str(out), "-q"]) == 0
    assert (out / "report.html").exists() and (out / "throughput.png").exists()
    assert cli.main(["compare", str(seed_result_path), str(seed_result_path)]) == 0
    # 3 trials cannot pass Holm's first step over 24 rows (0.05 > 0.05 / 24): cannot decide
    assert cli.main(["check", str(seed_result_path), "--baseline", str(seed_result_path),
                     "--max-regression", "10%", "--relative"]) == 3
    assert "CANNOT DECIDE" in capsys.readouterr().out
    assert cli.main(["check", str(seed_result_path), "--baseline", str(seed_result_path),
                     "--relative", "--correction", "none"]) == 0
    assert "OK: no significant regression" in capsys.readouterr().out
