"""Fixtures shared by every test module. Real servers (SeaweedFS, loopback HTTP origins,
nginx) are started by the fixtures in tests/servers.py and stopped when the session ends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PHIZER_SHARED", REPO.parent / "shared"))
EDGECASES = SHARED / "edgecases"


@pytest.fixture(scope="session")
def edgecases() -> Path:
    """The shared folder of real-world problem images (MANIFEST.tsv says what to do)."""
    if not (EDGECASES / "MANIFEST.tsv").exists():
        pytest.fail(f"edge-case images not found at {EDGECASES}; set PHIZER_SHARED")
    return EDGECASES
