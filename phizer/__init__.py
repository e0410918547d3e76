"""phizer: fetch an original, render every configured size, store the renders.

The two faces are `phizer warm` (batch pre-rendering) and `phizer serve` (HTTP on demand);
both run the pipeline in :mod:`phizer.pool.pipeline`. `phizer.purge(config, paths)`
deletes an original's renders (see :mod:`phizer.lifecycle.purge`).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """`phizer.purge(config, paths)`: the API for applications that delete photos in code;
    imported on first use, so `import phizer` stays cheap in every worker."""
    if name == "purge":
        from phizer.lifecycle.purge import purge

        return purge
    raise AttributeError(f"module 'phizer' has no attribute {name!r}")
