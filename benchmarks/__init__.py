"""phizer's benchmarks against its peers (naive Pillow, libvips, thumbor), run with
`python -m benchmarks` (or scripts/bench): `run` is the whole comparison, `targets` the
promises it checks; `peers`, `warm`, `serve`, `thumbor`, `noop_warm`, `render` and `tags`
are its parts, each runnable on its own as `python -m benchmarks.NAME`."""
