"""``loadtnt`` (also ``python -m loadtnt``): run, scenarios, report, compare, check.

Exit codes of ``run``: 0 done; 1 a worker or a driver failed (the result holds the rest);
2 a bad scenario or bad flags, or the scenario names what a server does not have (nothing
written); 4 every request of an op failed in some run (the result written, the first error of
each such op printed); 99 a threshold breached (the result written); 130 interrupted (the partial
result written).
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from loadtnt import __version__
from loadtnt.live.progress import Progress
from loadtnt.results import summary
from loadtnt.results.file import default_path
from loadtnt.scenario import builtin, model, parse
from loadtnt.scenario.durations import parse_duration

EXIT_USAGE = 2

RUN_EPILOG = """examples:
  loadtnt run seed                        (a built-in scenario: see `loadtnt scenarios`)
  loadtnt run scenarios/seed.yaml
  loadtnt run scenarios/seed.yaml --drivers loadtnt,asynctnt --loops uvloop --duration 5s
  loadtnt run scenarios/mixed-zipf.yaml --server 10.0.0.5:3301 --user bench --password secret
  loadtnt run scenarios/open-loop.yaml --rate 20000 --out results/open.json
  loadtnt run seed --tarantool /usr/bin/tarantool --tarantool ~/tarantool-3.8/bin/tarantool
  loadtnt run seed --dashboard 8080 --prometheus 9464   (http://127.0.0.1:8080/, /metrics)
  loadtnt run seed --prometheus-push http://127.0.0.1:9091 --dashboard 0 --linger 60
  loadtnt run seed --workers 8 --cluster tcp://10.0.0.9:8786    (workers on Dask workers)
"""


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except (TypeError, ValueError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_cluster_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("load from several machines (pip install 'loadtnt[cluster]')")
    g.add_argument("--cluster", metavar="tcp://SCHEDULER:8786",
                   help="run the workers on this Dask cluster's workers, one per Dask worker "
                        "thread (start them with `dask worker SCHEDULER --nthreads 1`)")
    g.add_argument("--listen", metavar="HOST",
                   help="with --cluster: the address the embedded server and the coordinator "
                        "listen on for the workers (default: the one by which this machine "
                        "reaches the scheduler)")


def require_cluster(sc: model.Scenario) -> None:
    """``--cluster`` without Dask's distributed installed: a bad-input error saying how."""
    if sc.cluster is None:
        return
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise model.ScenarioError("needs Dask's distributed, which is not installed: "
                                  "pip install 'loadtnt[cluster]'", path=sc.path,
                                  field="--cluster") from None


def add_run_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a scenario and write its result",
                       description="Run a YAML scenario: live progress, a summary table, "
                                   "the result file.",
                       epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", help="the scenario file (YAML), or the name of a built-in one "
                   "(`loadtnt scenarios` lists them)")
    o = p.add_argument_group("overrides of the scenario's fields, for this run")
    o.add_argument("--drivers", type=_names, help="comma-separated, e.g. loadtnt,asynctnt")
    o.add_argument("--loops", type=_names, help="comma-separated: asyncio, uvloop")
    o.add_argument("--workers", type=_positive_int)
    o.add_argument("--connections", type=_positive_int)
    o.add_argument("--concurrency", type=_positive_int)
    o.add_argument("--trials", type=_positive_int)
    o.add_argument("--warmup", type=_duration, help="e.g. 2s (0 for none)")
    span = o.add_mutually_exclusive_group()
    span.add_argument("--duration", type=_duration, help="e.g. 10s")
    span.add_argument("--requests", type=_positive_int, help="total over all workers")
    o.add_argument("--rate", type=_positive_float, help="open loop: total requests/s")
    where = o.add_mutually_exclusive_group()
    where.add_argument("--server", metavar="HOST:PORT[,HOST:PORT...]",
                       help="a running server instead of the embedded one; several "
                            "(comma-separated): the instances of a replica set, loaded "
                            "through the pool")
    where.add_argument("--tarantool", metavar="PATH", action="append",
                       help="the embedded server runs this Tarantool binary, instead of the "
                            "scenario's server set-ups; repeat it to measure several side by "
                            "side (each named tarantool-<version>)")
    o.add_argument("--user")
    o.add_argument("--password", help="never written to results or logs; with --user, "
                   "LOADTNT_PASSWORD may give it instead (not visible in ps)")
    add_cluster_args(p)
    p.add_argument("--out", type=Path, help="result file (default: results/<name>-<time>.json)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="lifecycle messages (server, worker pids) even without a terminal")
    lv = p.add_argument_group("watching the run live (the `live` extra: pip install "
                              "'loadtnt[live]')")
    lv.add_argument("--dashboard", metavar="[HOST:]PORT", type=_bind,
                    help="serve a live page while the run goes (host default 127.0.0.1; "
                         "port 0: any free one, printed)")
    lv.add_argument("--prometheus", metavar="[HOST:]PORT", type=_bind,
                    help="serve Prometheus metrics at /metrics while the run goes")
    lv.add_argument("--prometheus-push", metavar="URL",
                    help="push the metrics to this Pushgateway once a second and at the end")
    lv.add_argument("--linger", metavar="SECONDS", type=_nonnegative_float, default=0.0,
                    help="keep the dashboard and /metrics up this long after the run, showing "
                         "its final state and linking the result and the HTML report "
                         "(Ctrl-C ends it; default 0)")
    lv.add_argument("--dashboard-screenshot", metavar="PNG", type=Path,
                    help="at the end, a screenshot of the dashboard (headless Chromium)")
    p.set_defaults(func=run_command)


def _bind(text: str) -> tuple[str, int]:
    from loadtnt.live.serve import parse_bind

    try:
        return parse_bind(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def scenario_from_args(args: argparse.Namespace) -> model.Scenario:
    """The scenario file with the command line's overrides (ScenarioError when bad)."""
    if args.password is None and args.user is not None and os.environ.get("LOADTNT_PASSWORD"):
        args.password = os.environ["LOADTNT_PASSWORD"]
    sc = parse.load(_scenario_file(args.scenario))
    server, servers = sc.server, sc.servers
    if args.password is not None and args.user is None and (
            args.server is not None or server is None or server.user is None):
        # a password is a user's: guest has none (never echo the password itself)
        raise model.ScenarioError("--password needs --user (the user it is the password of; "
                                  "without a user the connection is guest's, which has no "
                                  "password)", field="--password")
    if args.server is not None:
        try:
            server = parse.parse_servers(args.server, args.user, args.password)
        except ValueError as e:
            raise model.ScenarioError(str(e), field="--server") from None
        servers = ()
    elif args.user is not None or args.password is not None:
        if server is None:
            raise model.ScenarioError("--user/--password need --server (or a scenario "
                                      "server)", field="--user")
        server = dataclasses.replace(
            server, user=args.user if args.user is not None else server.user,
            password=args.password if args.password is not None else server.password)
    if args.tarantool:
        # a sharded scenario stays one: the cluster's shape on each given binary
        shape = next((x.sharded for x in sc.setups if x.sharded is not None), None)
        server, servers = None, tuple(dataclasses.replace(x, sharded=shape)
                                      for x in tarantool_setups(args.tarantool))
    opt = {k: getattr(args, k, None) for k in (
        "drivers", "loops", "workers", "connections", "concurrency", "trials", "warmup",
        "duration", "requests", "rate", "cluster", "listen")}
    sc = sc.override(**opt)
    sc = dataclasses.replace(sc, server=server, servers=servers)
    model.check_model(sc)
    require_cluster(sc)
    return sc


def run_command(args: argparse.Namespace) -> int:
    try:
        sc = scenario_from_args(args)
    except model.ScenarioError as e:
        print(f"loadtnt: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    from loadtnt.live.serve import LiveOptions, missing_extras
    from loadtnt.runner.session import Session

    opts = LiveOptions(dashboard=args.dashboard, prometheus=args.prometheus,
                       push=args.prometheus_push, linger=args.linger,
                       screenshot=args.dashboard_screenshot)
    if opts.screenshot is not None and opts.dashboard is None:
        print("loadtnt: error: --dashboard-screenshot needs --dashboard", file=sys.stderr)
        return EXIT_USAGE
    if opts.any and (why := missing_extras(opts)):
        print(f"loadtnt: error: {why}", file=sys.stderr)
        return EXIT_USAGE
    out = args.out or default_path(sc.name)
    progress = Progress(verbose=args.verbose)
    live = None
    if opts.any:
        from loadtnt.live.serve import LiveRun

        live = LiveRun(opts, scenario=sc.normalized(), several_servers=len(sc.server_names) > 1,
                       note=progress.note, warn=progress.warn)
    session = Session(sc, out=out, progress=progress,
                      observers=live.observers if live is not None else ())

    async def main() -> int:
        if live is None:
            return await session.run()
        await live.start()  # BindError: exit 2, before any server or worker starts
        written, code = None, None
        try:
            code = await session.run()
            written = out if out.is_file() and session.result.runs else None
            return code
        finally:
            # an interrupted or failed run does not linger: the user wants it over
            await live.finish(written, linger=code is not None and not session.interrupted)

    from loadtnt.live.serve import BindError

    try:
        code = asyncio.run(main())
    except BindError as e:
        progress.done()
        print(f"loadtnt: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except model.ScenarioError as e:  # a server set-up that cannot run: found before any load
        progress.done()
        print(f"loadtnt: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:  # noqa: BLE001 - one line for the user, not a traceback
        progress.done()
        print(f"loadtnt: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if session.result.runs:
        print(summary.render(session.result.runs, drivers=sc.drivers, loops=sc.loops,
                             ops=[n for op in sc.operations for n in (op.name, *op.step_names)],
                             servers=sc.server_names))
        for line in summary.instances(session.result.data["server"], session.result.runs):
            print(line)
        for line in summary.sharded(session.result.data["server"], session.result.runs):
            print(line)
        lines = summary.errors(session.result.runs, several_servers=len(sc.server_names) > 1)
        if lines:
            print()
            print("\n".join(lines))
    for line in summary.all_failed(session.result.runs) if code != 130 else ():
        print(f"loadtnt: error: {line}", file=sys.stderr)
    if sc.thresholds and session.result.runs:
        from loadtnt.results import thresholds

        print()
        print(thresholds.render(list(sc.thresholds), session.threshold_rows))
        if session.aborted:
            print(session.aborted)
        failed = sum(not r["pass"] for r in session.threshold_rows)
        print(f"thresholds: {failed} of {len(session.threshold_rows)} breached" if failed
              or session.aborted else f"thresholds: all {len(session.threshold_rows)} held")
    return code


CAPACITY_EPILOG = """examples:
  loadtnt capacity scenarios/mixed-zipf.yaml --slo 'p99<2ms'
  loadtnt capacity my.yaml --slo 'p99<2ms,errors<0.1%' --start 5000 --precision 2%
  loadtnt capacity my.yaml --slo 'p99.9<10ms' --budget 3m --server 10.0.0.5:3301

Steps the open-loop rate up from --start (x --factor) until a step breaks the SLO, then bisects
between the last rate that held and the first that broke; each step warms up, then measures.
Exit codes: 0 a capacity found; 2 bad input; 3 undecided (the client was the limit, or no step
held, or every step held up to --max-rate).
"""


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share like 5% or 0.05, got {text!r}") \
            from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 100%, got {text!r}")
    return value


def add_capacity_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("capacity", help="search the highest rate that holds an SLO",
                       description="The highest open-loop rate (req/s) at which the server "
                                   "holds a latency SLO: a table of every step, a result file "
                                   "with the steps as runs, a latency-vs-throughput chart.",
                       epilog=CAPACITY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", help="the scenario file (YAML) or a built-in scenario's name; "
                   "its first driver, loop and server set-up are used, its rate is ignored")
    p.add_argument("--slo", required=True, help="e.g. 'p99<2ms' or 'p99<2ms,errors<0.1%%' "
                   "(all operations together; latency from the intended send times)")
    p.add_argument("--start", type=_positive_float, default=1000.0, help="first rate, req/s "
                   "(default 1000)")
    p.add_argument("--factor", type=_positive_float, default=2.0,
                   help="geometric step up until the SLO breaks (default 2)")
    p.add_argument("--precision", type=_percent, default=0.05,
                   help="stop when held and broken rates are this close (default 5%%)")
    p.add_argument("--budget", type=_duration, help="stop after this much time, e.g. 3m")
    p.add_argument("--step", type=_duration, default=3.0, help="measured seconds per step "
                   "(default 3s)")
    p.add_argument("--step-warmup", type=_duration, default=1.0,
                   help="warm-up per step at the step's rate (default 1s)")
    p.add_argument("--max-rate", type=_positive_float, help="never offer more than this")
    o = p.add_argument_group("overrides of the scenario's fields")
    o.add_argument("--drivers", type=_names, help="the first one is used")
    o.add_argument("--loops", type=_names, help="the first one is used")
    o.add_argument("--workers", type=_positive_int)
    o.add_argument("--connections", type=_positive_int)
    o.add_argument("--concurrency", type=_positive_int)
    where = o.add_mutually_exclusive_group()
    where.add_argument("--server", metavar="HOST:PORT")
    where.add_argument("--tarantool", metavar="PATH", action="append")
    o.add_argument("--user")
    o.add_argument("--password")
    add_cluster_args(p)
    p.add_argument("--out", type=Path, help="result file (default: "
                   "results/<name>-capacity-<time>.json); the chart goes next to it")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=capacity_command)


def capacity_command(args: argparse.Namespace) -> int:
    from loadtnt.results.thresholds import ThresholdError, parse_slo

    try:
        if args.factor <= 1:
            raise model.ScenarioError(f"must be more than 1, got {args.factor:g}",
                                      field="--factor")
        try:
            slo = parse_slo(args.slo)
        except ThresholdError as e:
            raise model.ScenarioError(str(e), field="--slo") from None
        sc = scenario_from_args(args)
    except model.ScenarioError as e:
        print(f"loadtnt: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    from loadtnt.runner.capacity import CapacitySession, Search, chart_path, render_table

    search = Search(slo=tuple(slo), slo_text=", ".join(t.text for t in slo), start=args.start,
                    factor=args.factor, precision=args.precision, budget_s=args.budget,
                    step_s=args.step, warmup_s=args.step_warmup, max_rate=args.max_rate)
    out = args.out or default_path(f"{sc.name}-capacity")
    progress = Progress(verbose=args.verbose)
    session = CapacitySession(sc, search, out=out, progress=progress)
    try:
        code = asyncio.run(session.run())
    except model.ScenarioError as e:
        progress.done()
        print(f"loadtnt: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:  # noqa: BLE001 - one line for the user, not a traceback
        progress.done()
        print(f"loadtnt: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if session.steps:
        print(render_table(session.steps))
        if "capacity" in session.result.data:
            try:
                from loadtnt.report.capacity import draw
            except ImportError:  # the reporting side is optional (matplotlib)
                print("chart: not drawn: it needs matplotlib (the `report` extra): "
                      "pip install 'loadtnt[report]'")
            else:
                chart = draw(session.result.data, chart_path(out))
                print(f"chart: {chart}")
    print(session.finding or "capacity: not measured")
    return code


def tarantool_setups(paths: Sequence[str]) -> tuple[model.ServerSetup, ...]:
    """``--tarantool PATH`` (repeated): one embedded set-up per binary, named by its version."""
    from loadtnt.instance import TarantoolInstanceError, version
    from loadtnt.server.setups import short_version

    setups: list[model.ServerSetup] = []
    for path in paths:
        binary = parse.resolve_binary(path)
        try:
            name = f"tarantool-{short_version(version(binary))}"
        except TarantoolInstanceError as e:
            raise model.ScenarioError(str(e), field="--tarantool") from None
        taken = {x.name for x in setups}
        base, n = name, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        setups.append(model.ServerSetup(name=name, binary=binary))
    return tuple(setups)


def _scenario_file(arg: str) -> str:
    target = builtin.resolve(arg)
    if not os.path.exists(target):
        known = ", ".join(builtin.names()) or "none found"
        raise model.ScenarioError(f"no such file, and no built-in scenario of that name "
                                  f"(built-in: {known})", path=arg)
    return target


def add_scenarios_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scenarios", help="list the built-in scenarios",
                       description="The scenarios that come with loadtnt: each runs by its name "
                                   "(`loadtnt run NAME`), and its file is a starting point for "
                                   "your own.",
                       epilog="example:\n  loadtnt scenarios\n  loadtnt run seed --duration 5s",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--paths", action="store_true", help="also print each scenario's file")
    p.set_defaults(func=scenarios_command)


def scenarios_command(args: argparse.Namespace) -> int:
    entries = builtin.listing()
    if not entries:
        print("loadtnt: error: no built-in scenarios found (a broken install?)", file=sys.stderr)
        return EXIT_USAGE
    width = max(len(e.name) for e in entries)
    for e in entries:
        print(f"{e.name.ljust(width)}  {e.description}".rstrip())
        if args.paths:
            print(f"{' ' * width}  {e.path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loadtnt", description="Load tests and benchmarks for Tarantool drivers.")
    parser.add_argument("--version", action="version", version=f"loadtnt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)
    add_capacity_parser(sub)
    add_scenarios_parser(sub)
    from loadtnt.compat import aiotarantool_env

    aiotarantool_env.add_parser(sub)
    # always there: a command whose extra is missing says so when it runs (exit 2)
    for module in ("loadtnt.report.cli", "loadtnt.report.compare", "loadtnt.report.check"):
        mod = __import__(module, fromlist=["add_parser"])
        mod.add_parser(sub)
    # --- issue 24: `loadtnt history ...` (performance history, change points) -------------
    from loadtnt.history import cli as history_cli

    history_cli.add_parser(sub)
    # --- end of issue 24 -------------------------------------------------------------------
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
