"""Performance history for CI (issue 24): result files stored run after run in SQLite
(loadtnt.history.store), change points per row found with Apache Otava (loadtnt.history.detect),
exports for other tools (loadtnt.history.export) and the `loadtnt history` subcommand
(loadtnt.history.cli).

Only the change-point commands (`changes`, `check`, `export --format otava-csv` needs nothing)
need the optional extra: ``pip install 'loadtnt[history]'``. The store itself is stdlib ``sqlite3``.
"""
