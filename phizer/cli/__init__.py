"""The `phizer` command line (`main`), with the `render` and `check` commands' helpers."""

from phizer.cli.main import main

__all__ = ["main"]
