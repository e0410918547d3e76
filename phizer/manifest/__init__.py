"""What a page needs to show an original's renders: the original's size and placeholder
(its record, `phizer.base.records`) and every render that exists, with its exact size.
`phizer manifest`, `phizer warm --manifest` and serve's `GET /info/{path}` all answer with
`entries.entry`."""
