"""Fixtures shared by every test module. Real servers (SeaweedFS, loopback HTTP origins,
nginx) are started by the fixtures in tests/support/servers.py and stopped when the session ends."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


# --- S3 (SeaweedFS) and loopback origins: see tests/support/servers.py -----------------


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One `weed mini` per xdist worker, stopped (SIGTERM, wait) when the session ends."""
    from support.servers import start_seaweedfs

    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_credentials(seaweedfs, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """SeaweedFS's credentials in the environment, where boto3's usual chain finds them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs.secret_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    return seaweedfs


@pytest.fixture
def origins():  # type: ignore[no-untyped-def]
    """A factory of started loopback HTTP origins (tests/support/servers.py `Origin`), all stopped
    after the test: `origins(files={"a.jpg": b"..."}, delay=2)`."""
    from support.servers import Origin

    started: list[Origin] = []

    def make(**fields):  # type: ignore[no-untyped-def]
        origin = Origin(**fields).start()
        started.append(origin)
        return origin

    yield make
    for origin in started:
        origin.stop()


@pytest.fixture
def lcms_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The size of every image LittleCMS converts from here on (still converted for real):
    for tests of how a conversion is split, not of its colours."""
    from PIL import ImageCms

    calls: list[tuple[int, int]] = []
    real = ImageCms.applyTransform

    def spy(im: Any, transform: Any, inPlace: bool = False) -> Any:  # noqa: N803
        calls.append(im.size)
        return real(im, transform, inPlace)

    monkeypatch.setattr(ImageCms, "applyTransform", spy)
    return calls
