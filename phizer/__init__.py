"""phizer: fetch an original, render every configured size, store the renders.

The two faces are `phizer warm` (batch pre-rendering) and `phizer serve` (HTTP on demand);
both run the pipeline in :mod:`phizer.pool.pipeline`.
"""

__version__ = "0.1.0"
