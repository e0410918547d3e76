"""The command line as a user drives it: exit codes, one-line errors, files written."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from support.edgecases import expectation

from phizer import __version__
from phizer.cli.main import main
from phizer.engine.resample import resampler_name


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PHIZER_CONFIG", raising=False)
    return CliRunner()


def manifest(edgecases: Path) -> list[dict[str, str]]:
    with (edgecases / "MANIFEST.tsv").open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output
    assert f"resampler: {resampler_name()}" in result.output


def test_sizes_lists_the_defaults(runner: CliRunner) -> None:
    result = runner.invoke(main, ["sizes"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        ["thumb", "120x120", "fill"],
        ["small", "220x220", "fill"],
        ["medium", "800x800", "max"],
        ["large", "1600x1600", "max"],
    ]


def test_bad_config_is_one_line_and_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[sizes.a]\nwidth = 1\nheigth = 2\n")
    result = runner.invoke(main, ["-c", "bad.toml", "sizes"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "bad.toml: [sizes.a]: unknown key 'heigth'" in result.output


def test_help_everywhere(runner: CliRunner) -> None:
    for command in ([], ["warm"], ["serve"], ["render"], ["sizes"], ["check"], ["sign"]):
        result = runner.invoke(main, [*command, "--help"])
        assert result.exit_code == 0, command
        assert "Usage:" in result.output


def test_render_a_local_file_writes_the_size(runner: CliRunner, edgecases: Path) -> None:
    result = runner.invoke(main, ["render", str(edgecases / "Landscape_6.jpg"), "small"])
    assert result.exit_code == 0, result.output
    with Image.open("Landscape_6.220x220.jpg") as img:
        assert (img.format, img.size) == ("JPEG", (220, 220))


def test_render_to_stdout_and_by_dimensions(runner: CliRunner, edgecases: Path) -> None:
    result = runner.invoke(main, ["render", str(edgecases / "hopper.png"), "800x800", "-o", "-"])
    assert result.exit_code == 0
    with Image.open(io.BytesIO(result.stdout_bytes)) as img:
        # 128x128 original: max mode never upscales.
        assert (img.format, img.size) == ("PNG", (128, 128))


def test_render_into_a_pipe_writes_through_it_and_leaves_it_a_pipe(
    runner: CliRunner, edgecases: Path, tmp_path: Path
) -> None:
    """`-o /dev/null` or a named pipe is written to, never replaced by a file (an atomic
    write's rename would put a regular file where the device was)."""
    import os
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = runner.invoke(
        main, ["render", str(edgecases / "hopper.png"), "thumb", "-o", str(fifo)]
    )
    reader.join(10)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    with Image.open(io.BytesIO(received[0])) as img:
        assert img.size == (120, 120)


def test_render_crop_and_format_variant(runner: CliRunner, edgecases: Path) -> None:
    args = ["render", str(edgecases / "hopper.jpg"), "thumb", "--crop", "0,0,64,32"]
    result = runner.invoke(main, [*args, "--format", "webp", "-o", "out.webp"])
    assert result.exit_code == 0, result.output
    with Image.open("out.webp") as img:
        # 64x32 box, fill 120x120 without upscaling: cropped to 1:1 -> 32x32.
        assert (img.format, img.size) == ("WEBP", (32, 32))


@pytest.mark.parametrize(
    ("out", "fmt"),
    [("out.webp", "WEBP"), ("out.PNG", "PNG"), ("out.jpeg", "JPEG"), ("out.bin", "JPEG")],
)
def test_render_writes_the_format_the_output_name_asks_for(
    runner: CliRunner, edgecases: Path, out: str, fmt: str
) -> None:
    result = runner.invoke(main, ["render", str(edgecases / "hopper.jpg"), "thumb", "-o", out])
    assert result.exit_code == 0, result.output
    with Image.open(out) as img:
        assert img.format == fmt


def test_render_format_option_wins_over_the_output_name(runner: CliRunner, edgecases: Path) -> None:
    args = ["render", str(edgecases / "hopper.png"), "thumb", "--format", "jpg", "-o", "x.webp"]
    assert runner.invoke(main, args).exit_code == 0
    with Image.open("x.webp") as img:
        assert img.format == "JPEG"


def test_render_unknown_size_is_a_usage_error(runner: CliRunner, edgecases: Path) -> None:
    result = runner.invoke(main, ["render", str(edgecases / "hopper.jpg"), "123x45"])
    assert result.exit_code == 2
    assert "unknown size '123x45'" in result.output


def test_render_missing_original_names_it(runner: CliRunner) -> None:
    Path("originals").mkdir()
    result = runner.invoke(main, ["render", "photos/nope.jpg", "small"])
    assert result.exit_code == 1
    assert "photos/nope.jpg" in result.output
    assert "Traceback" not in result.output


def test_render_from_the_master(runner: CliRunner, edgecases: Path) -> None:
    Path("originals/photos").mkdir(parents=True)
    shutil.copy(edgecases / "hopper.gif", "originals/photos/h.gif")
    result = runner.invoke(main, ["render", "photos/h.gif", "thumb", "-o", "t.gif"])
    assert result.exit_code == 0, result.output
    with Image.open("t.gif") as img:
        assert (img.format, img.size) == ("GIF", (120, 120))


def test_every_edge_case_through_phizer_render(runner: CliRunner, edgecases: Path) -> None:
    """MANIFEST.tsv's verdict holds through the CLI, and refusals hold under a .jpg name."""
    for row in manifest(edgecases):
        name, expects = row["filename"], expectation(row)
        copy = Path("as-jpg.jpg")
        shutil.copy(edgecases / name, copy)
        for source in (str(edgecases / name), str(copy)):
            out = Path("out.bin")
            out.unlink(missing_ok=True)
            result = runner.invoke(main, ["render", source, "small", "-o", str(out)])
            if expects == "refuse":
                assert result.exit_code == 1, (name, result.output)
                assert source in result.output, name
                assert not out.exists(), name
            else:
                assert result.exit_code == 0, (name, result.output)
                with Image.open(out) as img:
                    img.load()
                    assert max(img.size) <= 220, name


def test_sign_needs_a_key(runner: CliRunner) -> None:
    result = runner.invoke(main, ["sign", "/220x220/a.jpg"])
    assert result.exit_code == 2
    assert "[security].key is empty" in result.output


def test_sign_prints_the_signed_path(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "k.toml").write_text('[security]\nkey = "secret"\n')
    result = runner.invoke(main, ["-c", "k.toml", "sign", "/220x220/a.jpg"])
    assert result.exit_code == 0, result.output
    sig, rest = result.output.strip()[1:].split("/", 1)
    assert rest == "220x220/a.jpg"
    assert len(sig) == 16


def test_check_reports_each_part(runner: CliRunner, tmp_path: Path) -> None:
    Path("originals").mkdir()
    result = runner.invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert "master: ok" in result.output
    assert "store: ok" in result.output
    assert f"resampler: {resampler_name()}" in result.output


def test_check_fails_for_an_unreachable_slave(runner: CliRunner, tmp_path: Path) -> None:
    Path("originals").mkdir()
    # Port 9 on loopback: nothing listens there, so the connection is refused at once.
    (tmp_path / "c.toml").write_text('[[slaves]]\nurl = "http://127.0.0.1:9/x/"\n')
    result = runner.invoke(main, ["-c", "c.toml", "check"])
    assert result.exit_code == 1
    assert "slave 1: FAILED" in result.output


@pytest.mark.slow
def test_console_script_runs_as_a_process(tmp_path: Path, edgecases: Path) -> None:
    """The installed entry point, not just the click object: errors carry no traceback."""
    exe = Path(sys.executable).with_name("phizer")
    proc = subprocess.run(
        [str(exe), "render", str(edgecases / "broken.png"), "small"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("phizer: error: ")
    assert "broken.png" in proc.stderr
    assert "Traceback" not in proc.stderr
