"""The history database: runs of `loadtnt-result/1` files in SQLite, one row per (scenario, server,
driver, loop, op) and run, each trial's values kept.

The schema is versioned (``PRAGMA user_version``) and migrated step by step when an older file is
opened for writing, after a copy of the old file is kept beside it (``history.sqlite.v1.bak``) and
a line says so; a file of a newer schema, or an SQLite file that is not a loadtnt history, is
refused, never rewritten. Every command migrates an older file it opens (reads too: the file is
usually a CI cache's, and a reader that could not read it would be of no use), always with the
copy and the line.

A run's machine fingerprint is its CPU model and core count (``environment.cpu``): a row's
history is per machine, because mixing machines is the commonest way such histories lie. The
machine's busy figure (``other_cpu_cores``: CPU used by other processes during the windows, the
most of any window) is kept per run beside it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from loadtnt.report.load import Result, ResultFileError, load_result

DEFAULT_DB = Path("results/history.sqlite")
APP = "loadtnt-history"
SCHEMA_VERSION = 2
METRICS = {"rps": "rps", "p50": "p50", "p99": "p99", "p99.9": "p999"}  # → column
LOWER_IS_BETTER = {"p50", "p99", "p99.9"}


class HistoryError(Exception):
    """A history file that cannot be used, or a result that cannot be added; the message says
    why (exit 2)."""


class DuplicateRun(HistoryError):
    """The same result file (same content) is in the history already."""


# --- schema -----------------------------------------------------------------------------------

SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    added_at TEXT NOT NULL,
    started_at TEXT,
    commit_sha TEXT,
    scenario TEXT NOT NULL,
    machine TEXT NOT NULL,
    cpu_model TEXT,
    cpu_count INTEGER,
    busy_cores REAL,
    versions TEXT NOT NULL,
    source TEXT
);
CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    scenario TEXT NOT NULL,
    server TEXT NOT NULL,
    driver TEXT NOT NULL,
    loop TEXT NOT NULL,
    op TEXT NOT NULL,
    UNIQUE (scenario, server, driver, loop, op)
);
CREATE TABLE trials (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    series_id INTEGER NOT NULL REFERENCES series(id),
    trial INTEGER NOT NULL,
    rps REAL NOT NULL,
    p50 REAL, p99 REAL, p999 REAL,
    requests INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    PRIMARY KEY (run_id, series_id, trial)
);
"""


def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    """2: a run's label (`history add --label`) and whether the run's latency is the corrected
    one (open loop), so that a latency history never mixes service and corrected times."""
    db.execute("ALTER TABLE runs ADD COLUMN label TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN open_loop INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX trials_by_series ON trials (series_id, run_id)")


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1_to_2}


def _create(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA_1)
    db.execute("INSERT INTO meta VALUES ('app', ?)", (APP,))
    for version in range(1, SCHEMA_VERSION):
        MIGRATIONS[version](db)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.commit()


def _version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _is_ours(db: sqlite3.Connection) -> bool:
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'app'").fetchone()
    except sqlite3.DatabaseError:
        return False
    return bool(row) and row[0] == APP


def open_db(path: str | Path, *, create: bool = True,
            note: Callable[[str], None] | None = None) -> sqlite3.Connection:
    """Open (creating when allowed) and migrate a history file; HistoryError when it cannot be."""
    path = Path(path)
    note = note or (lambda s: print(s, file=sys.stderr))
    if not path.exists():
        if not create:
            raise HistoryError(f"{path}: no such history (add runs with `loadtnt history add`)")
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path)
        _create(db)
        return db
    try:
        db = sqlite3.connect(path)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as e:
        raise HistoryError(f"{path}: not an SQLite file ({e})") from None
    if not tables:
        _create(db)
        return db
    if not _is_ours(db):
        db.close()
        raise HistoryError(f"{path}: an SQLite file, but not a loadtnt history; left as it is")
    version = _version(db)
    if version > SCHEMA_VERSION:
        db.close()
        raise HistoryError(f"{path}: schema {version} is newer than this loadtnt knows "
                           f"({SCHEMA_VERSION}); upgrade loadtnt — the file is left as it is")
    if version < SCHEMA_VERSION:
        if version not in MIGRATIONS:
            db.close()
            raise HistoryError(f"{path}: schema {version} has no migration; left as it is")
        db.close()
        backup = path.with_name(f"{path.name}.v{version}.bak")
        shutil.copy2(path, backup)
        db = sqlite3.connect(path)
        try:
            with db:
                for v in range(version, SCHEMA_VERSION):
                    MIGRATIONS[v](db)
                    db.execute(f"PRAGMA user_version = {v + 1}")
        except sqlite3.DatabaseError as e:
            db.close()
            shutil.copy2(backup, path)
            raise HistoryError(f"{path}: migration from schema {version} failed ({e}); the "
                               f"file is as it was") from None
        note(f"loadtnt history: migrated {path} from schema {version} to {SCHEMA_VERSION} "
             f"(the old file kept as {backup})")
    return db


# --- adding runs ------------------------------------------------------------------------------

def machine_of(environment: dict[str, Any]) -> tuple[str, str | None, int | None]:
    """(fingerprint, CPU model, cores): the fingerprint is "<model> x<cores>"."""
    cpu = environment.get("cpu") or {}
    model = str(cpu.get("model")) if cpu.get("model") else None
    count = int(cpu["count"]) if cpu.get("count") else None
    return f"{model or 'unknown CPU'} x{count or '?'}", model, count


def digest(data: dict[str, Any]) -> str:
    """The identity of a result: its runs and environment, whatever the file is called."""
    body = json.dumps({"runs": data.get("runs"), "environment": data.get("environment"),
                       "scenario": data.get("scenario")}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def versions_of(env: dict[str, Any]) -> dict[str, Any]:
    tnt = env.get("tarantool") or {}
    return {"loadtnt": env.get("loadtnt_version"), "python": env.get("python"),
            "drivers": env.get("drivers") or {}, "loops": env.get("loops") or {},
            "tarantool": tnt.get("version") if isinstance(tnt, dict) else None}


@dataclass
class Added:
    run_id: int
    rows: int
    machine: str


def add_result(db: sqlite3.Connection, path: str | Path, *, commit: str | None = None,
               label: str | None = None) -> Added:
    """Store one result file as the newest run. DuplicateRun when its content is in already,
    HistoryError when it cannot be stored (unreadable, partial, no runs)."""
    try:
        with Path(path).open(encoding="utf-8") as f:
            data = json.load(f)
        result = load_result(path)
    except (OSError, json.JSONDecodeError, ResultFileError) as e:
        raise HistoryError(str(e) if isinstance(e, ResultFileError) else f"{path}: {e}") from None
    if result.partial:
        raise HistoryError(f"{path}: a partial result (the run was interrupted): not added")
    runs = result.runs
    if not runs:
        raise HistoryError(f"{path}: no runs to add")
    dig = digest(data)
    seen = db.execute("SELECT id, added_at, source FROM runs WHERE digest = ?", (dig,)).fetchone()
    if seen:
        raise DuplicateRun(f"{path}: already in the history as run #{seen[0]} (added "
                           f"{seen[1]} from {seen[2]}): not added again")
    env = result.environment
    fingerprint, model, count = machine_of(env)
    busy = [r.other_cpu_cores for r in runs if r.other_cpu_cores is not None]
    scenario = str(result.scenario.get("name") or result.label)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with db:
        cur = db.execute(
            "INSERT INTO runs (digest, added_at, started_at, commit_sha, scenario, machine, "
            "cpu_model, cpu_count, busy_cores, versions, source, label, open_loop) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (dig, now, env.get("started_at"), commit or env.get("commit"), scenario, fingerprint,
             model, count, max(busy) if busy else None, json.dumps(versions_of(env)),
             str(path), label, int(result.open_loop)))
        run_id = int(cur.lastrowid or 0)
        keys = set()
        for r in runs:
            key = (scenario, r.server or "", r.driver, r.loop, r.op)
            db.execute("INSERT OR IGNORE INTO series (scenario, server, driver, loop, op) "
                       "VALUES (?,?,?,?,?)", key)
            sid = db.execute("SELECT id FROM series WHERE scenario=? AND server=? AND driver=? "
                             "AND loop=? AND op=?", key).fetchone()[0]
            keys.add(sid)
            lat = r.latency_us
            db.execute("INSERT OR REPLACE INTO trials VALUES (?,?,?,?,?,?,?,?,?)",
                       (run_id, sid, r.trial, r.rps, lat.get("p50"), lat.get("p99"),
                        lat.get("p999"), r.requests, r.errors))
    return Added(run_id, len(keys), fingerprint)


# --- reading ----------------------------------------------------------------------------------

@dataclass
class RunInfo:
    id: int
    added_at: str
    started_at: str | None
    commit: str | None
    label: str | None
    scenario: str
    machine: str
    busy_cores: float | None
    versions: dict[str, Any]
    open_loop: bool


@dataclass
class Point:
    """One run of a row: its trials' values of one metric."""

    run: RunInfo
    values: list[float]

    @property
    def mean(self) -> float:
        """The run's value for change points (loadtnt.history.detect.values_of)."""
        return statistics.fmean(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


@dataclass
class Row:
    """A (scenario, server, driver, loop, op) on one machine (or on any, with --any-machine)."""

    id: int
    scenario: str
    server: str
    driver: str
    loop: str
    op: str
    machine: str  # "" with any_machine
    points: list[Point] = field(default_factory=list)

    @property
    def name(self) -> str:
        server = f"{self.server}/" if self.server else ""
        return f"{self.scenario}: {server}{self.driver}/{self.loop}/{self.op}"

    @property
    def key(self) -> str:
        """A stable, printable id: the series id, and the machine when there are several."""
        return f"{self.id}" + (f"@{self.machine}" if self.machine else "")


def runs(db: sqlite3.Connection) -> list[RunInfo]:
    out = []
    for r in db.execute("SELECT id, added_at, started_at, commit_sha, label, scenario, machine, "
                        "busy_cores, versions, open_loop FROM runs ORDER BY id"):
        out.append(RunInfo(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                           json.loads(r[8] or "{}"), bool(r[9])))
    return out


def rows(db: sqlite3.Connection, metric: str = "rps", *, any_machine: bool = False,
         machine: str | None = None) -> list[Row]:
    """Every row with its points in the order the runs were added. Per machine by default (a row
    on two machines is two rows); ``machine`` keeps one machine's."""
    col = METRICS[metric]
    info = {r.id: r for r in runs(db)}
    series = {s[0]: s[1:] for s in db.execute(
        "SELECT id, scenario, server, driver, loop, op FROM series ORDER BY id")}
    out: dict[tuple[int, str], Row] = {}
    for sid, run_id, value in db.execute(
            f"SELECT series_id, run_id, {col} FROM trials ORDER BY series_id, run_id, trial"):
        run = info[run_id]
        if machine is not None and run.machine != machine:
            continue
        m = "" if any_machine else run.machine
        row = out.get((sid, m))
        if row is None:
            scenario, server, driver, loop, op = series[sid]
            row = out[(sid, m)] = Row(sid, scenario, server, driver, loop, op, machine=m)
        if value is None:
            continue
        if row.points and row.points[-1].run.id == run_id:
            row.points[-1].values.append(float(value))
        else:
            row.points.append(Point(run, [float(value)]))
    # the machine shown only where it tells rows apart
    several = len({m for _, m in out}) > 1
    result = sorted(out.values(), key=lambda r: (r.id, r.machine))
    if not several:
        for r in result:
            r.machine = ""
    return [r for r in result if r.points]


def find_rows(all_rows: Sequence[Row], ref: str) -> list[Row]:
    """ROW as `history list` prints it: its id (``3``, ``3@<machine>``), or a part of its name."""
    exact = [r for r in all_rows if r.key == ref or str(r.id) == ref]
    if exact:
        return exact
    return [r for r in all_rows if ref.lower() in r.name.lower()]


def newest_run(db: sqlite3.Connection) -> RunInfo | None:
    got = runs(db)
    return got[-1] if got else None


def iter_values(points: Iterable[Point]) -> list[float]:
    return [p.median for p in points]


def result_digest(path: str | Path) -> str:
    with Path(path).open(encoding="utf-8") as f:
        return digest(json.load(f))


__all__ = [
    "DEFAULT_DB",
    "DuplicateRun",
    "HistoryError",
    "Point",
    "Result",
    "Row",
    "RunInfo",
    "add_result",
    "find_rows",
    "open_db",
    "rows",
    "runs",
]
