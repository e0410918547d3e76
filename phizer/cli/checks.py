"""`phizer check`: reach every configured source and the render store, one line each."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from phizer.base.errors import PhizerError
from phizer.config import Config
from phizer.sources.build import build_master, build_slaves
from phizer.stores.build import build_store

CheckResult = tuple[str, bool, str]


def run_checks(config: Config) -> Iterator[CheckResult]:
    """(name, ok, status line) for the master, each slave and the store, in that order.
    Each check is independent: one unreachable part does not hide the others' status."""
    yield _check("master", lambda: build_master(config).check())
    for i, slave in enumerate(build_slaves(config), start=1):
        yield _check(f"slave {i}", slave.check)
    yield _check("store", lambda: build_store(config).check())


def _check(name: str, probe: Callable[[], str]) -> CheckResult:
    try:
        return name, True, probe()
    except PhizerError as exc:
        return name, False, exc.message
