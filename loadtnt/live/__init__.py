"""What a run shows while it runs: :mod:`.progress` on the terminal (or a log)."""
