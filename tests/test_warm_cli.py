"""`phizer warm` options and outcomes a user sees: failures named with their reason and the
exit status they cause, --from-file / stdin, --dry-run, --formats, --sizes, usage errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from PIL import Image
from support.warm import make_originals, snapshot, warm_config

from phizer.cli.main import main
from phizer.warm.progress import Counts, Progress


def run(tmp_path: Path, *args: str, stdin: str | None = None) -> Result:
    config = tmp_path / "phizer.toml"
    return CliRunner().invoke(main, ["-c", str(config), "warm", *args], input=stdin)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    make_originals(tmp_path / "originals", 6)
    warm_config(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_bad_originals_are_named_and_counted_and_decide_the_exit_status(tree: Path) -> None:
    (tree / "originals/a/corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    good = (tree / "originals/d/img0002.jpg").read_bytes()
    (tree / "originals/a/truncated.jpg").write_bytes(good[: len(good) // 3])

    result = run(tree, "--json", "--workers", "1")

    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["originals"] == 8
    assert summary["rendered"] == 6 * 3
    assert summary["failed"] == len(summary["failures"]) == 2
    failed = {f["path"]: f["error"] for f in summary["failures"]}
    assert set(failed) == {"a/corrupt.jpg", "a/truncated.jpg"}
    assert all(reason for reason in failed.values())

    tolerated = run(tree, "--json", "--workers", "1", "--max-failures", "2")
    assert tolerated.exit_code == 0
    assert json.loads(tolerated.stdout)["failed"] == 2  # failed ones are retried, never skipped


@pytest.mark.slow
def test_paths_from_stdin_render_only_those_and_name_the_ones_that_cannot(tree: Path) -> None:
    paths = "b/c/img0004.jpg\n\n# a comment\nd/img0002.jpg\na/missing.jpg\n../escape.jpg\n"

    result = run(tree, "--json", "--workers", "1", "--from-file", "-", stdin=paths)

    summary = json.loads(result.stdout)
    assert result.exit_code == 1
    assert (summary["originals"], summary["rendered"], summary["failed"]) == (4, 6, 2)
    assert {f["path"] for f in summary["failures"]} == {"a/missing.jpg", "../escape.jpg"}
    made = sorted(p for p in snapshot(tree / "renders") if not p.startswith(".phizer"))
    assert made == sorted(
        f"{d}/{p}"
        for d in ("100x100", "48x48", "60x90")
        for p in ("b/c/img0004.jpg", "d/img0002.jpg")
    )


def test_dry_run_lists_what_it_would_render_and_writes_nothing(tree: Path) -> None:
    result = run(tree, "--dry-run", "--sizes", "thumb", "--prefix", "b/")

    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["48x48/b/c/img0001.jpg", "48x48/b/c/img0004.jpg"]
    assert not (tree / "renders").exists()
    as_json = json.loads(run(tree, "--dry-run", "--json", "--sizes", "thumb,tall").stdout)
    assert sorted(as_json["would_render"]) == sorted(
        f"{d}/{p}"
        for d in ("48x48", "60x90")
        for p in (
            "a/img0000.png",
            "a/img0003.png",
            "b/c/img0001.jpg",
            "b/c/img0004.jpg",
            "d/img0002.jpg",
            "d/img0005.jpg",
        )
    )
    assert as_json["rendered"] == 0


@pytest.mark.slow
def test_formats_add_variant_renders(tree: Path) -> None:
    result = run(tree, "--json", "--workers", "1", "--sizes", "thumb", "--formats", "webp")

    assert json.loads(result.stdout)["rendered"] == 12
    with Image.open(tree / "renders/48x48/a/img0000.png.webp") as variant:
        assert (variant.format, variant.size) == ("WEBP", (48, 48))
    with Image.open(tree / "renders/48x48/a/img0000.png") as plain:
        assert plain.format == "PNG"


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--sizes", "thumb,huge"], "unknown size 'huge'"),
        (["--formats", "bmp"], "unknown format 'bmp'"),
        (["--shard", "3/3"], "not K/N"),
        (["--workers", "0"], "--workers"),
    ],
)
def test_usage_errors_exit_2_and_say_why(tree: Path, args: list[str], complaint: str) -> None:
    result = run(tree, *args)
    assert result.exit_code == 2
    assert complaint in result.stderr
    assert not (tree / "renders").exists()


def test_progress_is_a_plain_line_when_stderr_is_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(stream, tty=False, interval=0.0)
    progress.update(Counts(originals=10, rendered=30, skipped=4, failed=1, bytes=2_500_000))
    line = stream.getvalue()
    assert line.startswith("phizer warm: 10 originals (")
    assert "30 rendered (" in line
    assert "4 skipped, 1 failed, 2.5 MB" in line
    assert "\r" not in line  # no terminal control in logs


def test_progress_counts_one_original_in_the_singular() -> None:
    stream = io.StringIO()
    Progress(stream, tty=False, interval=0.0).update(Counts(originals=1, rendered=4))
    assert stream.getvalue().startswith("phizer warm: 1 original (")
