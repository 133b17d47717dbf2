"""The parent side of a run: worker processes, the server's statistics, the run's sequence."""
