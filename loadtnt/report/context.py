"""The machine/version/scenario context of a result file, as the one or two lines every chart,
the HTML report and the Markdown summary carry."""

from __future__ import annotations

import textwrap

from loadtnt.report.load import Result


def _scenario_line(r: Result) -> str:
    s = r.scenario
    parts = [f"scenario {s.get('name', r.label)!s}"]
    shape = []
    for key, unit in (("workers", "worker"), ("connections", "conn"),
                      ("concurrency", "coroutines")):
        if s.get(key) is not None:
            shape.append(f"{s[key]} {unit}")
    if shape:
        parts.append(" × ".join(shape))
    if s.get("capacity_search"):
        c = s["capacity_search"]
        parts.append(f"capacity search at {c.get('slo')}: open-loop steps, "
                     f"{c.get('warmup_s', 0):g} s warm-up each")
    elif isinstance(s.get("rate"), list):
        tops = [float(x["to"]) for x in s["rate"] if isinstance(x, dict) and "to" in x]
        parts.append(f"open loop in {len(s['rate'])} stages, up to {max(tops, default=0):,.0f} "
                     "req/s")
    elif s.get("rate") is not None:
        parts.append(f"open loop {float(s['rate']):,.0f} req/s")
    elif s:
        parts.append("closed loop")
    if s.get("duration") is not None:
        parts.append(f"{s['duration']:g} s measured")
    elif s.get("requests") is not None:
        parts.append(f"{s['requests']:,} requests")
    if s.get("trials") is not None:
        parts.append(f"{s['trials']} trials")
    return ", ".join(parts)


def context_lines(r: Result) -> str:
    """The machine/version context of one result file, as one or two footer lines."""
    env = r.environment
    bits = []
    if env.get("loadtnt_version"):
        commit = f" ({env['commit']})" if env.get("commit") else ""
        bits.append(f"loadtnt {env['loadtnt_version']}{commit}")
    if env.get("python"):
        bits.append(f"Python {env['python']}")
    loops = env.get("loops")
    if isinstance(loops, dict) and loops.get("uvloop"):
        bits.append(f"uvloop {loops['uvloop']}")
    tnt = env.get("tarantool")
    servers = env.get("servers")
    if isinstance(servers, dict) and len(servers) > 1:
        bits.append("Tarantool " + ", ".join(
            f"{str(info.get('version', '?')).split('-')[0]} ({name})"
            for name, info in servers.items() if isinstance(info, dict)))
    elif isinstance(tnt, dict) and tnt.get("version"):
        bits.append(f"Tarantool {tnt['version']}")
    cpu = env.get("cpu")
    if isinstance(cpu, dict) and (cpu.get("model") or cpu.get("count")):
        bits.append(f"{cpu.get('model', 'CPU')} × {cpu.get('count', '?')}")
    if env.get("hostname"):
        bits.append(str(env["hostname"]))
    if env.get("started_at"):
        bits.append(str(env["started_at"]))
    head = f"[{r.label}] " if r.label else ""
    text = head + _scenario_line(r) + (" | " + " · ".join(bits) if bits else "")
    if r.partial:
        text += " | PARTIAL RUN (interrupted)"
    return "\n".join(textwrap.wrap(text, 150))
