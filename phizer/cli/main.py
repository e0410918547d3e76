"""The `phizer` command line: the only module that sets up logging and chooses exit codes.

Exit codes: 0 success; 1 the job ran and something failed (an original that would not
render, an unreachable source); 2 usage or configuration errors. Errors are one line on
stderr naming the file or key at fault, never a traceback.

One module for every command, over the usual size: each command is a thin adapter from
click to a function of the layer below, and they share the group's state and error
handling.
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

import click

from phizer import __version__
from phizer.base.errors import ConfigError, PhizerError
from phizer.base.formats import FORMAT_BY_EXTENSION, VARIANT_FORMATS
from phizer.base.models import CropBox, Focus
from phizer.base.paths import read_paths, write_atomically
from phizer.base.urls import format_of_key
from phizer.config import Config, load_config

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class State:
    """What the group hands every subcommand: the config file and a lazily loaded Config."""

    config_path: str | None
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config


pass_state = click.make_pass_decorator(State)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"phizer: error: {message}", err=True)
    sys.exit(code)


def reports_errors(func: F) -> F:
    """Turns phizer's errors into one line on stderr and the documented exit code."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            fail(exc.message, 2)
        except PhizerError as exc:
            fail(exc.message, 1)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper  # type: ignore[return-value]


class ShardType(click.ParamType[tuple[int, int]]):
    """`K/N`: this run handles the originals with crc32(path) % N == K."""

    name = "K/N"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        k, sep, n = str(value).partition("/")
        if not (sep and k.isdigit() and n.isdigit() and int(n) >= 1 and int(k) < int(n)):
            self.fail(f"{value!r} is not K/N with 0 <= K < N", param, ctx)
        return int(k), int(n)


class CommaList(click.ParamType[tuple[str, ...]]):
    """`a,b,c`: names separated by commas, blanks dropped."""

    name = "A,B"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        return tuple(item.strip() for item in str(value).split(",") if item.strip())


class CropType(click.ParamType[CropBox]):
    """`X1,Y1,X2,Y2` in pixels of the displayed original."""

    name = "X1,Y1,X2,Y2"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> CropBox:
        if isinstance(value, CropBox):
            return value
        parts = str(value).split(",")
        if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
            self.fail(f"{value!r} is not X1,Y1,X2,Y2 (four whole numbers)", param, ctx)
        x1, y1, x2, y2 = (int(p) for p in parts)
        if x2 <= x1 or y2 <= y1:
            self.fail(f"{value!r} is an empty box (need X2 > X1 and Y2 > Y1)", param, ctx)
        return CropBox(x1, y1, x2, y2)


def setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="PHIZER_CONFIG",
    help="Config file (TOML). Default: $PHIZER_CONFIG, "
    "else ./originals -> ./renders with the default sizes.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _param, value: _print_version(ctx, value),
    help="Show the version and the resampler in use, and exit.",
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """phizer: pre-render (warm) and serve a fixed set of photo sizes."""
    setup_logging(verbose)
    ctx.obj = State(config_path)


def _print_version(ctx: click.Context, asked: bool) -> None:
    if not asked:
        return
    from phizer.engine.resample import resampler_name  # imports Pillow: only when asked

    click.echo(f"phizer, version {__version__}\nresampler: {resampler_name()}")
    ctx.exit()


@main.command()
@pass_state
@reports_errors
def sizes(state: State) -> None:
    """List the configured sizes."""
    for spec in state.config.sizes:
        extra = " upscale" if spec.upscale else ""
        click.echo(f"{spec.name}\t{spec.dimensions}\t{spec.mode}\tq={spec.quality}{extra}")


@main.command()
@click.argument("url_path")
@pass_state
@reports_errors
def sign(state: State, url_path: str) -> None:
    """Print the signed form of URL_PATH (e.g. /220x220/photos/a.jpg, /info/photos/a.jpg)."""
    from phizer.base.urls import is_info_url, parse_info_url, parse_url, sign_url

    config = state.config
    if not config.security.key:
        raise ConfigError(f"{config.source}: [security].key is empty; nothing to sign with")
    parse = parse_info_url if is_info_url(url_path) else parse_url
    parse(url_path, extensions=config.limits.extensions)  # refuse what serve would refuse
    click.echo(sign_url(url_path, config.security.key))


@main.command()
@pass_state
@reports_errors
def check(state: State) -> None:
    """Validate the config and reach the master, each slave and the render store."""
    from phizer.cli.checks import run_checks
    from phizer.engine.resample import resampler_name

    config = state.config
    click.echo(f"config: ok ({config.source}, {len(config.sizes)} sizes)")
    click.echo(f"resampler: {resampler_name()}")
    failures = 0
    for name, ok, line in run_checks(config):
        click.echo(f"{name}: {'ok' if ok else 'FAILED'}: {line}")
        failures += not ok
    if failures:
        sys.exit(1)


@main.command()
@click.argument("path")
@click.argument("size")
@click.option("--crop", type=CropType(), help="Crop this box of the displayed original first.")
@click.option(
    "--format",
    "variant",
    type=click.Choice(VARIANT_FORMATS),
    help="Output format (default: -o's extension when it names one, else the original's).",
)
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(),
    help="Output file, or - for stdout. Default: NAME.WxH.EXT in the current directory.",
)
@click.option(
    "--focus",
    "show_focus",
    is_flag=True,
    help="Also print the photo's focal point and what found it ([focus] sources).",
)
@pass_state
@reports_errors
def render(
    state: State,
    path: str,
    size: str,
    crop: CropBox | None,
    variant: str | None,
    out: str | None,
    show_focus: bool,
) -> None:
    """Render PATH at SIZE (a size name or WxH).

    PATH is a local file if one exists there, else an original path fetched from the
    configured master (and slaves)."""
    from phizer.cli.render_one import render_path

    config = state.config
    spec = config.size(size)
    if variant is None and out not in (None, "-"):
        variant = variant_named_by(str(out))
    try:
        rendered, picture = render_path(config, path, spec, crop, variant)
    except PhizerError as exc:
        raise type(exc)(f"{path}: {exc.message}") from None
    if show_focus:
        click.echo(focus_line(picture.focus, config.focus.sources), err=True)
    if out == "-":
        sys.stdout.buffer.write(rendered.data)
        return
    target = (
        Path(out)
        if out
        else Path(default_output_name(path, spec.dimensions, rendered.content_type))
    )
    if target.exists() and not target.is_file():
        target.write_bytes(rendered.data)  # a device or pipe (/dev/null): never replace it
    else:
        write_atomically(target, rendered.data)
    click.echo(
        f"{target} ({rendered.width}x{rendered.height}, {len(rendered.data)} bytes)", err=True
    )


def focus_line(focus: Focus | None, sources: tuple[str, ...]) -> str:
    """`phizer render --focus`'s line: the box in fractions and in words, and its source."""
    if not sources:
        return "focus: none looked for ([focus] sources is empty): centre crops"
    if focus is None:
        return f"focus: none found by {', '.join(sources)}: centre crops"
    box = f"{focus.x1:.3f},{focus.y1:.3f},{focus.x2:.3f},{focus.y2:.3f}"
    return f"focus: {box} (x1,y1,x2,y2 as fractions) from {focus.source}"


def variant_named_by(out: str) -> str | None:
    """The format an output file's extension asks for (`-o small.webp`), as image tools take
    it; None when the extension names no format phizer writes."""
    fmt = format_of_key(out)
    return next((v for v in VARIANT_FORMATS if FORMAT_BY_EXTENSION[v] == fmt), None)


def default_output_name(path: str, dims: str, content_type: str) -> str:
    ext = content_type.split("/")[-1].replace("jpeg", "jpg")
    return f"{Path(path).stem}.{dims}.{ext}"


@main.command()
@click.option("--prefix", default="", help="Only originals under this prefix.")
@click.option(
    "--from-file",
    "from_file",
    type=click.File("r"),
    help="Read original paths from FILE (- for stdin) instead of listing the master.",
)
@click.option(
    "--sizes", "size_names", type=CommaList(), help="Comma-separated size names (default: all)."
)
@click.option(
    "--formats", type=CommaList(), help="Comma-separated extra format variants, e.g. webp,avif."
)
@click.option("--workers", type=click.IntRange(min=1), help="Render processes (default: CPUs).")
@click.option("--shard", type=ShardType(), help="Handle only crc32(path) %% N == K.")
@click.option("--force", is_flag=True, help="Re-render even fresh renders.")
@click.option("--dry-run", is_flag=True, help="List what would be rendered; render nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option(
    "--max-failures",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Exit 0 despite up to N failed originals.",
)
@click.option(
    "--prune",
    is_flag=True,
    help="After the run, delete the renders under --prefix whose original is gone "
    "(each confirmed gone from the master and every slave first).",
)
@click.option(
    "--manifest",
    "manifest_out",
    metavar="FILE",
    help="Also write the manifest of this run's originals to FILE (see `phizer manifest`).",
)
@click.option(
    "--max-prune",
    metavar="N|N%",
    help="Prune nothing (and exit 1) if more renders than this would go. "
    "Default: 10% of the renders under --prefix.",
)
@pass_state
@reports_errors
def warm(
    state: State,
    prefix: str,
    from_file: TextIO | None,
    size_names: tuple[str, ...] | None,
    formats: tuple[str, ...] | None,
    workers: int | None,
    shard: tuple[int, int] | None,
    force: bool,
    dry_run: bool,
    as_json: bool,
    max_failures: int,
    prune: bool,
    max_prune: str | None,
    manifest_out: str | None,
) -> None:
    """Pre-render every configured size of the originals under --prefix."""
    from phizer.warm.run import main_warm, resolve_options

    opts = resolve_options(
        state.config,
        prefix=prefix,
        from_file=from_file,
        size_names=size_names or (),
        formats=formats,
        workers=workers,
        shard=shard,
        force=force,
        dry_run=dry_run,
        as_json=as_json,
        max_failures=max_failures,
        prune=prune,
        max_prune=max_prune,
        manifest=manifest_out,
    )
    sys.exit(main_warm(state.config, opts))


@main.command()
@click.option("--prefix", default="", help="Only originals under this prefix.")
@click.option(
    "--sizes", "size_names", type=CommaList(), help="Comma-separated size names (default: all)."
)
@click.option("--json", "form", flag_value="json", default=True, help="One JSON array (default).")
@click.option("--jsonl", "form", flag_value="jsonl", help="One JSON object a line.")
@click.option("-o", "--output", "out", help="Write to FILE (whole or not at all); default stdout.")
@pass_state
@reports_errors
def manifest(
    state: State, prefix: str, size_names: tuple[str, ...] | None, form: str, out: str | None
) -> None:
    """Print what a page needs for each original under --prefix: its size, a ThumbHash
    placeholder, and every render that exists with its exact size.

    No render is opened and no original with a current record is fetched (docs/manifest.md)."""
    from phizer.manifest.build import ListedRenders, ManifestRun, entries, listed_originals
    from phizer.manifest.output import manifest_file, write_entries
    from phizer.sources.build import build_source
    from phizer.stores.build import build_store

    config = state.config
    sizes = tuple(config.size(n) for n in size_names) if size_names else config.sizes
    store, source = build_store(config), build_source(config)
    run = ManifestRun()
    originals = listed_originals(config, source, prefix)
    items = entries(
        config, store, source, originals, sizes, ListedRenders(store, sizes, prefix), run
    )
    try:
        with manifest_file(out) as fh:
            count = write_entries(items, fh, lines=form == "jsonl")
    except OSError as exc:
        fail(f"cannot write the manifest to {out}: {exc.strerror or exc}")
    for path, message in run.failures:
        click.echo(f"phizer: error: {path}: {message}", err=True)
    click.echo(
        f"phizer manifest: {count} originals, {run.made} records made, {len(run.failures)} failed",
        err=True,
    )
    sys.exit(1 if run.failures else 0)


@main.command()
@click.argument("paths", nargs=-1)
@click.option(
    "--from-file",
    "from_file",
    type=click.File("r"),
    help="Read original paths from FILE (- for stdin), one a line.",
)
@click.option("--dry-run", is_flag=True, help="List the renders that would go; delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@pass_state
@reports_errors
def purge(
    state: State, paths: tuple[str, ...], from_file: TextIO | None, dry_run: bool, as_json: bool
) -> None:
    """Delete every render of each original PATH from the render store.

    Every configured size and format variant, every crop render, and the sizes phizer
    rendered under settings since removed; the original is dropped from this host's
    originals cache, and each deleted render is purged from the CDN ([purge] urls).
    The original itself is not touched. Exit 0 when every render is gone, 1 when a delete
    failed (named on stderr), 2 on usage errors."""
    import json

    from phizer.lifecycle.purge import PurgeReport, iter_purge

    if not paths and from_file is None:
        raise ConfigError("name at least one original PATH, or --from-file")
    listed = read_paths(from_file) if from_file is not None else iter(())
    report = PurgeReport(dry_run=dry_run)  # keys held only for --json; else printed as they go
    originals = deleted = failed = 0
    for purged in iter_purge(state.config, itertools.chain(paths, listed), dry_run=dry_run):
        originals += 1
        deleted += len(purged.keys)
        failed += len(purged.failures)
        if as_json:
            report.add(purged)
        else:
            click.echo("".join(f"{key}\n" for key in purged.keys), nl=False)
        for failure in purged.failures:
            click.echo(f"phizer: error: {failure.message}", err=True)
    if as_json:
        click.echo(json.dumps(report.as_json()))
    else:
        verb = "would delete" if dry_run else "deleted"
        click.echo(f"{originals} originals: {verb} {deleted} renders, {failed} failed", err=True)
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--host", help="Listen address (default: [server].host).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: [server].port).")
@click.option("--workers", type=click.IntRange(min=0), help="Render processes (0 = in-thread).")
@pass_state
@reports_errors
def serve(state: State, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve /{W}x{H}/path URLs: stored renders, misses rendered on demand."""
    from phizer.serve.app import run_server

    run_server(
        state.config,
        host=host,
        port=port,
        workers=workers,
        on_ready=lambda url: click.echo(f"phizer: serving on {url}", err=True),
    )
