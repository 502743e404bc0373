"""What the console reads: one module per view model, every list paged by the one
keyset pager in :mod:`roko_app.reads.pager`. Nothing here writes, commits, touches the
request or renders anything."""
