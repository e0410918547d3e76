"""The master/slave chain with real loopback slaves: parallel asks, first answer wins."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from phizer.base.errors import OriginalNotFound, OriginError, OriginTimeout, TooLarge
from phizer.sources.chain import Chain
from phizer.sources.dir import DirSource
from phizer.sources.http import HttpSlave

pytestmark = pytest.mark.slow


@pytest.fixture
def master(tmp_path: Path) -> DirSource:
    (tmp_path / "here.jpg").write_bytes(b"MASTER")
    return DirSource(tmp_path, 1000)


def slaves(*origins: Any, timeout: float = 5.0) -> list[HttpSlave]:
    return [HttpSlave(o.url, 1000, timeout) for o in origins]


def test_master_hit_never_asks_slaves(master: DirSource, origins: Any) -> None:
    slave = origins(files={"here.jpg": b"SLAVE"})
    chain = Chain(master, slaves(slave))
    fetched = chain.fetch_from("here.jpg")
    assert (fetched.original.data, fetched.from_master) == (b"MASTER", True)
    assert slave.seen == []


def test_fast_slave_wins_without_waiting_for_the_slow_one(master: DirSource, origins: Any) -> None:
    slow = origins(files={"new.jpg": b"SLOW"}, delay=2.0)
    fast = origins(files={"new.jpg": b"FAST"})
    chain = Chain(master, slaves(slow, fast))
    start = time.monotonic()
    fetched = chain.fetch_from("new.jpg")
    elapsed = time.monotonic() - start
    assert (fetched.original.data, fetched.from_master) == (b"FAST", False)
    assert elapsed < 1.0
    # It was asked too, in parallel (its request may still be on its way under load).
    deadline = time.monotonic() + 2.0
    while not slow.seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(slow.seen) == 1


def test_all_slaves_missing_is_not_found(master: DirSource, origins: Any) -> None:
    a, b = origins(), origins()
    with pytest.raises(OriginalNotFound):
        Chain(master, slaves(a, b)).fetch("nowhere.jpg")
    assert len(a.seen) == len(b.seen) == 1


def test_hanging_slave_and_no_holder_is_a_timeout(master: DirSource, origins: Any) -> None:
    hung, empty = origins(behaviour="hang"), origins()
    chain = Chain(master, slaves(hung, empty, timeout=1.0))
    start = time.monotonic()
    with pytest.raises(OriginTimeout):
        chain.fetch("nowhere.jpg")
    assert time.monotonic() - start < 2.0


def test_too_large_on_a_slave_is_reported(master: DirSource, origins: Any) -> None:
    big, empty = origins(files={"big.jpg": b"x" * 5000}), origins()
    with pytest.raises(TooLarge):
        Chain(master, slaves(big, empty)).fetch("big.jpg")


def test_master_down_is_an_error_without_failover(origins: Any) -> None:
    down = origins(behaviour="status", status=503)
    slave = origins(files={"a.jpg": b"SLAVE"})
    chain = Chain(HttpSlave(down.url, 1000, 5.0), slaves(slave))
    with pytest.raises(OriginError):
        chain.fetch("a.jpg")
    assert slave.seen == []


def test_master_down_asks_slaves_with_failover(origins: Any) -> None:
    down = origins(behaviour="status", status=503)
    slave = origins(files={"a.jpg": b"SLAVE"})
    chain = Chain(HttpSlave(down.url, 1000, 5.0), slaves(slave), failover=True)
    assert chain.fetch("a.jpg").data == b"SLAVE"
    with pytest.raises(OriginError) as caught:
        chain.fetch("missing.jpg")  # the master might have it: its failure is the answer
    assert "503" in str(caught.value)


def test_master_timeout_without_failover_stays_a_timeout(origins: Any) -> None:
    hung = origins(behaviour="hang")
    chain = Chain(HttpSlave(hung.url, 1000, 0.5), slaves(origins(files={"a.jpg": b"S"})))
    with pytest.raises(OriginTimeout):
        chain.fetch("a.jpg")


def test_list_and_stat_go_to_the_master_only(master: DirSource, origins: Any) -> None:
    slave = origins(files={"new.jpg": b"SLAVE"})
    chain = Chain(master, slaves(slave))
    assert [i.path for i in chain.list("")] == ["here.jpg"]
    assert chain.stat("here.jpg").size == 6
    with pytest.raises(OriginalNotFound):
        chain.stat("new.jpg")
    assert slave.seen == []


def test_check_reports_every_source(master: DirSource, origins: Any) -> None:
    slave = origins()
    lines = Chain(master, slaves(slave)).check().splitlines()
    assert len(lines) == 2
    assert slave.url in lines[1]
