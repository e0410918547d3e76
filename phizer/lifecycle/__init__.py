"""Retiring renders: `purge` deletes every render of named originals, `prune` (warm's
`--prune`) the renders whose original is gone, and `cdn` asks a CDN to forget each deleted
render. Every delete is whole (a render is there or gone) and touches only keys that parse
as phizer's render keys, or the bookkeeping of the originals whose renders go: their crop
markers and records (`phizer.base.keys`); each deleted render is followed by its CDN
requests.
"""
