"""A resource each process makes for itself: made once, and again in a forked child."""

from __future__ import annotations

import os

from phizer.base.perprocess import PerProcess


def test_made_once_on_first_use() -> None:
    made: list[object] = []

    def make() -> object:
        made.append(object())
        return made[-1]

    resource = PerProcess(make)
    assert resource.made() is None
    first = resource.get()
    assert resource.get() is first
    assert resource.made() is first
    assert len(made) == 1


def test_a_forked_child_makes_its_own() -> None:
    resource = PerProcess(object)
    parent = resource.get()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the parent's cleanup
        try:
            inherited = resource.made()
            own = resource.get()
            ok = inherited is None and own is not parent and resource.get() is own
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert resource.get() is parent
