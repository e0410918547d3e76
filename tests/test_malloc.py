"""The render worker's allocator settings: freed pixel memory is reused, not faulted in
afresh (measured in a fresh interpreter, as a worker starts)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import resource, sys
from phizer.pool.malloc import keep_freed_memory
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
size = 20 << 20  # a 2-megapixel RGBA render's worth
def touch():
    buf = bytearray(size)
    buf[::4096] = b"x" * len(range(0, size, 4096))
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults_on_reuse(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_render_buffer_is_reused_without_page_faults() -> None:
    pages = (20 << 20) // 4096
    assert faults_on_reuse("default") > pages // 2  # glibc's default gives it back
    assert faults_on_reuse("tuned") < pages // 20
