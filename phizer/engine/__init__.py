"""The render engine: one original's bytes in, one encoded render per target out, from one
decode. Pure: Pillow, simplejpeg and fast_image_resize only, no I/O (`render` is the entry;
`geometry`, `decode`, `colour`, `resample` and `encode` are its steps)."""
