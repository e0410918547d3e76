"""What the shared edge-case MANIFEST.tsv asks phizer to do with each file, read the same way
by every test that uses it."""

from __future__ import annotations

# The manifest's HEIC file is to be refused by plain Pillow and rendered where pillow-heif is
# enabled on purpose, as phizer enables it.
PILLOW_HEIF_RENDERS = "render only if pillow-heif is deliberately enabled"


def expectation(row: dict[str, str]) -> str:
    """The row's `phizer_expects` ("render", "render-animated" or "refuse"), with the
    manifest's own condition on pillow-heif applied."""
    expects = row.get("phizer_expects", "")
    if expects == "refuse" and PILLOW_HEIF_RENDERS in row.get("resizer_should", ""):
        return "render"
    return expects
