"""One module per scenario of ``make bench``; each exposes ``run(ctx) -> Outcome``."""
