"""`phizer warm`: list originals, skip the fresh renders, render the rest through the pool,
tally and report (`run` is the entry)."""
