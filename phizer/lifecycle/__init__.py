"""Retiring renders: `purge` deletes every render of named originals, `prune` (warm's
`--prune`) the renders whose original is gone, and `cdn` asks a CDN to forget each deleted
render. Every delete is whole (a render is there or gone), touches only keys that parse as
phizer's render keys (`phizer.base.keys`), and is followed by the CDN requests for it.
"""
