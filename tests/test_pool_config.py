"""Pool.from_config: a Tarantool 3.x cluster config resolved as Tarantool resolves it.

The first part checks the resolution on hand-written configs (no server): inheritance, the
variables, every filter, the address rules (advertise, listen, unix sockets, user@host:port,
SSL) and the errors. The second part starts a real cluster from a hand-written config with
options at every level (``tarantool --name NAME --config FILE``, Tarantool 3.0+; it skips on
older servers naming the version it needs), compares what each instance itself resolved
(``require('config'):get(...)``) with loadtnt's resolution, and connects a pool by each
filter.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadtnt.driver.config import ConfigError, merge, resolve_config
from loadtnt.instance import free_port, version_tuple
from tests import _testbase as tb

pytestmark = tb.only_loadtnt

SECRET = "cfg-secret-93b1"          # the group-level password of user 'client'

# --- resolution, no server -------------------------------------------------------------------

CONFIG: dict[str, Any] = {
    "credentials": {"users": {"client": {"password": "global-pw", "roles": ["super"]},
                              "replicator": {"password": "rep-pw",
                                             "roles": ["replication"]}}},
    "iproto": {"listen": [{"uri": "unix/:./{{ instance_name }}.sock"}],
               "advertise": {"peer": {"login": "replicator"}}},
    "labels": {"level": "global", "who": "{{ instance_name }}", "tier": "none"},
    "roles": ["roles.base"],
    "process": {"work_dir": "{{ instance_name }}"},
    "groups": {
        "storages": {
            "credentials": {"users": {"client": {"password": SECRET}}},
            "labels": {"level": "group", "grp": "{{ group_name }}"},
            "roles": ["roles.g"],
            "sharding": {"roles": ["storage"]},
            "replicasets": {
                "rs-a": {
                    "labels": {"level": "replicaset", "rs": "{{ replicaset_name }}"},
                    "iproto": {"advertise": {"client": "unix/:./{{ instance_name }}.sock"}},
                    "instances": {
                        "a1": {"labels": {"level": "instance"},
                               "roles": ["roles.a1", "roles.g"],
                               "sharding": {"roles": ["storage", "rebalancer"]},
                               "iproto": {"listen": [{"uri": "127.0.0.1:3301"},
                                                     {"uri": "unix/:./a1.sock"}]}},
                        "a2": {"iproto": {"listen": ["0.0.0.0:3302", "127.0.0.1:3302"],
                                          "advertise": {"client": "127.0.0.1:3302"}}},
                    },
                },
            },
        },
        "routers": {
            "sharding": {"roles": ["router"]},
            "replicasets": {"r": {"instances": {
                "r1": {"iproto": {"listen": [{"uri": "127.0.0.1:3310"}]},
                       "labels": {"tier": "front"}}}}},
        },
    },
}


def by_name(found: list[Any]) -> dict[str, Any]:
    return {c.name: c for c in found}


def test_merge_is_tarantools() -> None:
    """Maps deeply, lists and scalars whole, null never overrides."""
    assert merge({"a": {"x": 1, "y": [1, 2]}, "b": 1}, {"a": {"y": [3]}, "b": None}) == \
        {"a": {"x": 1, "y": [3]}, "b": 1}
    assert merge(None, {"a": 1}) == {"a": 1} and merge({"a": 1}, None) == {"a": 1}


def test_inheritance_and_variables() -> None:
    found = by_name(resolve_config(CONFIG, username="client"))
    assert list(found) == ["a1", "a2", "r1"]
    a1, a2, r1 = found["a1"], found["a2"], found["r1"]
    assert (a1.group, a1.replicaset, r1.group, r1.replicaset) == ("storages", "rs-a",
                                                                  "routers", "r")
    # labels: a map, merged level by level; the variables of each level
    assert a1.labels == {"level": "instance", "who": "a1", "tier": "none", "grp": "storages",
                         "rs": "rs-a"}
    assert a2.labels == {"level": "replicaset", "who": "a2", "tier": "none",
                         "grp": "storages", "rs": "rs-a"}
    assert r1.labels == {"level": "global", "who": "r1", "tier": "front"}
    # roles, sharding.roles: lists, the most specific level's whole
    assert (a1.roles, a2.roles, r1.roles) == (["roles.a1", "roles.g"], ["roles.g"],
                                              ["roles.base"])
    assert (a1.sharding_roles, a2.sharding_roles, r1.sharding_roles) == (
        ["storage", "rebalancer"], ["storage"], ["router"])
    # addresses: a1 advertises a unix socket (the replica set's, with its name) relative to
    # its work_dir (itself relative to where the config is: here the current directory);
    # a2 its own TCP address; r1 has none: its listen
    assert a1.endpoint == "unix/:" + os.path.join(os.getcwd(), "a1", "a1.sock")
    assert a2.endpoint == "127.0.0.1:3302" and r1.endpoint == "127.0.0.1:3310"
    # credentials: the group overrides the password of 'client' for its instances only
    assert (a1.password, a2.password, r1.password) == (SECRET, SECRET, "global-pw")
    assert SECRET not in repr(a1) and "global-pw" not in repr(r1)


def test_filters() -> None:
    def names(**kw: Any) -> list[str]:
        return [c.name for c in resolve_config(CONFIG, **kw)]

    assert names(groups="storages") == ["a1", "a2"]
    assert names(groups=["routers", "storages"]) == ["a1", "a2", "r1"]
    assert names(replicasets="r") == ["r1"]
    assert names(instances=["a2", "r1"]) == ["a2", "r1"]
    assert names(roles="roles.g") == ["a1", "a2"]
    assert names(roles=["roles.a1", "roles.base"]) == ["a1", "r1"]
    assert names(sharding_roles="router") == ["r1"]
    assert names(sharding_roles=["rebalancer"]) == ["a1"]
    assert names(labels={"tier": "none"}) == ["a1", "a2"]
    assert names(labels={"level": ["instance", "global"]}) == ["a1", "r1"]
    assert names(labels={"who": "a2", "grp": "storages"}) == ["a2"]
    assert names(groups="storages", labels={"level": "instance"}) == ["a1"]
    assert names(uri="listen", groups="storages") == ["a1", "a2"]


def test_addresses_by_uri_kind(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    found = by_name(resolve_config(str(path), uri="listen"))
    # the first listen URI a client can use: a1 TCP; a2 not 0.0.0.0
    assert found["a1"].endpoint == "127.0.0.1:3301"
    assert found["a2"].endpoint == "127.0.0.1:3302"
    # a file's relative paths are the file's directory's
    assert by_name(resolve_config(path))["a1"].endpoint == \
        f"unix/:{tmp_path}/a1/a1.sock"
    # peer: its login becomes the user, its password from the credentials
    peer = by_name(resolve_config(CONFIG, uri="peer"))
    assert peer["a1"].endpoint == "127.0.0.1:3301"
    assert (peer["a1"].username, peer["a1"].password) == ("replicator", "rep-pw")
    # sharding falls back to peer
    assert by_name(resolve_config(CONFIG, uri="sharding"))["r1"].username == "replicator"
    # no username: guest, no password
    assert {(c.username, c.password) for c in resolve_config(CONFIG)} == {(None, None)}
    with pytest.raises(ValueError, match="uri= is one of"):
        resolve_config(CONFIG, uri="advertise")


def one(instance: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {**top, "groups": {"g": {"replicasets": {"r": {"instances": {"i": instance}}}}}}


def test_uri_forms() -> None:
    def endpoint(instance: dict[str, Any], **kw: Any) -> Any:
        (c,) = resolve_config(one(instance), **kw)
        return c.endpoint, c.username, c.password

    # strings, a single {uri}, a comma-separated string, a bare port, tcp://
    assert endpoint({"iproto": {"listen": "127.0.0.1:1"}})[0] == "127.0.0.1:1"
    assert endpoint({"iproto": {"listen": {"uri": "127.0.0.1:2"}}})[0] == "127.0.0.1:2"
    assert endpoint({"iproto": {"listen": "0.0.0.0:3, 127.0.0.1:3"}})[0] == "127.0.0.1:3"
    assert endpoint({"iproto": {"listen": [{"uri": "3304"}]}})[0] == "localhost:3304"
    assert endpoint({"iproto": {"listen": "tcp://127.0.0.1:5"}})[0] == "127.0.0.1:5"
    assert endpoint({"iproto": {"listen": [{"uri": "unix/:/run/t.sock"}]}})[0] == \
        "unix/:/run/t.sock"
    # SSL: skipped for a plain URI, an error alone
    assert endpoint({"iproto": {"listen": [
        {"uri": "127.0.0.1:6", "params": {"transport": "ssl"}},
        {"uri": "127.0.0.1:7", "params": {"transport": "plain"}}]}})[0] == "127.0.0.1:7"
    with pytest.raises(ConfigError, match="only SSL URIs"):
        endpoint({"iproto": {"listen": [{"uri": "127.0.0.1:6",
                                         "params": {"transport": "ssl"}}]}})
    # user@host:port: the user (and a password in the URI) when username= is not given
    assert endpoint({"iproto": {"listen": "127.0.0.1:8",
                                "advertise": {"client": "bob@127.0.0.1:9"}}}) == \
        ("127.0.0.1:9", "bob", None)
    assert endpoint({"iproto": {"listen": "127.0.0.1:8",
                                "advertise": {"client": "bob:pw@127.0.0.1:9"}}}) == \
        ("127.0.0.1:9", "bob", "pw")
    assert endpoint({"iproto": {"listen": "bob:pw@127.0.0.1:8"}}, username="al",
                    password="x") == ("127.0.0.1:8", "al", "x")
    assert endpoint({"iproto": {"listen": "bob@unix/:/s.sock"}})[:2] == ("unix/:/s.sock",
                                                                         "bob")


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has no groups nope .*it has routers, storages"):
        resolve_config(CONFIG, groups="nope")
    with pytest.raises(ConfigError, match="has no instances zz"):
        resolve_config(CONFIG, instances=["a1", "zz"])
    with pytest.raises(ConfigError, match=r"no instance of the cluster config matches "
                                          r"groups='routers', roles='roles.g' \(its "
                                          r"instances: a1, a2, r1\)"):
        resolve_config(CONFIG, groups="routers", roles="roles.g")
    with pytest.raises(ConfigError, match="cannot read the cluster config .*missing.yaml"):
        resolve_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        resolve_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="is not a YAML mapping"):
        resolve_config(bad)
    with pytest.raises(ConfigError, match="has no instances"):
        resolve_config({"iproto": {"listen": "127.0.0.1:1"}})
    with pytest.raises(ConfigError, match="instance i has no iproto.listen"):
        resolve_config(one({"labels": {"a": "b"}}))
    with pytest.raises(ConfigError, match="no URI a client can connect to"):
        resolve_config(one({"iproto": {"listen": ["0.0.0.0:1", "[::]:1", "127.0.0.1:0"]}}))
    with pytest.raises(ConfigError, match="instance i: labels.x: unknown variable 'instance'"):
        resolve_config(one({"iproto": {"listen": "127.0.0.1:1"},
                            "labels": {"x": "{{ instance }}"}}))
    with pytest.raises(TypeError, match="a path or a dict"):
        resolve_config(42)  # type: ignore[arg-type]
    # one pool, one password: the two groups' 'client' passwords differ
    with pytest.raises(ConfigError, match="different passwords") as err:
        tb.driver.Pool.from_config(CONFIG, username="client")
    assert SECRET not in str(err.value) and "global-pw" not in str(err.value)


def test_context_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "host.txt").write_text("127.0.0.1\n")
    monkeypatch.setenv("LOADTNT_TEST_PORT", "3401")
    cfg = one({"iproto": {"listen": "{{ context.host }}:{{ context.port }}"}},
              config={"context": {"host": {"from": "file", "file": "host.txt", "rstrip": True},
                                  "port": {"from": "env", "env": "LOADTNT_TEST_PORT"}}})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert resolve_config(path)[0].endpoint == "127.0.0.1:3401"


# --- a real Tarantool 3 cluster from a hand-written config ------------------------------------

LIVE_CONFIG = """\
credentials:
  users:
    replicator: {password: 'rep-pw-1', roles: [replication]}
    client: {password: 'global-pw', roles: [super]}
    t1: {password: 't1', roles: [super]}
iproto:
  listen: [{uri: 'unix/:./{{ instance_name }}.global.sock'}]
  advertise:
    peer: {login: replicator}
labels: {level: global, who: '{{ instance_name }}', tier: none}
roles: [roles.base]
process: {work_dir: '{{ instance_name }}'}
replication: {failover: manual, timeout: 0.5}
groups:
  storages:
    credentials:
      users:
        client: {password: '%(secret)s'}
    iproto: {net_msg_max: 1000}
    labels: {level: group, grp: '{{ group_name }}'}
    roles: [roles.g]
    replicasets:
      rs-a:
        leader: a1
        labels: {level: replicaset, rs: '{{ replicaset_name }}'}
        iproto:
          advertise: {client: 'unix/:./{{ instance_name }}.sock'}
        instances:
          a1:
            labels: {level: instance}
            roles: [roles.a1, roles.g]
            iproto:
              listen: [{uri: '127.0.0.1:%(p1)d'}, {uri: 'unix/:./a1.sock'}]
          a2:
            iproto:
              listen: [{uri: '127.0.0.1:%(p2)d'}]
              advertise: {client: '127.0.0.1:%(p2)d'}
  others:
    credentials:
      users:
        client: {password: '%(secret)s'}
    replicasets:
      rs-b:
        leader: b1
        instances:
          b1:
            labels: {tier: back}
            iproto:
              listen: [{uri: '127.0.0.1:%(p3)d'}]
"""
ROLE_LUA = "return {validate = function() end, apply = function() end, stop = function() end}\n"
NAMES = ("a1", "a2", "b1")


def binary() -> str:
    return os.environ.get("TARANTOOL") or "tarantool"


class _Addr:
    def __init__(self, port: int):
        self.port = port

    def open_socket(self, timeout: float) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout)


class LiveCluster:
    """The instances of LIVE_CONFIG, each ``tarantool --name NAME --config FILE``."""

    def __init__(self, root: Path):
        self.root = root
        ports = {"p1": free_port(), "p2": free_port(), "p3": free_port()}
        self.ports = {"a1": ports["p1"], "a2": ports["p2"], "b1": ports["p3"]}
        self.config = root / "config.yaml"
        self.config.write_text(LIVE_CONFIG % {**ports, "secret": SECRET})
        (root / "roles").mkdir()
        for role in ("base", "g", "a1"):
            (root / "roles" / f"{role}.lua").write_text(ROLE_LUA)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        env = dict(os.environ, LUA_PATH=f"{self.root}/?.lua;;")
        for name in NAMES:
            log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115  closed with the process
            self.procs[name] = subprocess.Popen(
                [binary(), "--name", name, "--config", str(self.config)], cwd=self.root,
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            log.close()
        deadline = time.monotonic() + 30
        for name in NAMES:
            while not self.ready(name):
                if self.procs[name].poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{name} did not start: "
                                       + (self.root / f"{name}.log").read_text()[-2000:])
                time.sleep(0.1)

    def ready(self, name: str) -> bool:
        try:
            # box is up before config has finished applying its own state: config:get()
            # fails until config:info().status leaves 'startup_in_progress'
            reply = tb.admin_eval(self.tcp(name), "return box.info.status, box.info.ro, "
                                  "require('config'):info().status")
        except Exception:  # noqa: BLE001  not up yet
            return False
        return (reply[0] == "running" and (name == "a2" or reply[1] is False)
                and reply[2] in ("ready", "check_warnings"))

    def tcp(self, name: str) -> _Addr:
        """What tb.admin_eval (user t1, in the config's credentials) connects to."""
        return _Addr(self.ports[name])

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCluster]:
    have = version_tuple(binary())
    if have < (3, 0):
        pytest.skip(f"needs Tarantool 3.0+ for a cluster config (tarantool --config); "
                    f"$TARANTOOL is {'.'.join(map(str, have))}")
    cluster = LiveCluster(tmp_path_factory.mktemp("cfg"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_resolution_matches_tarantools(live: LiveCluster) -> None:
    """Each instance's own resolution (require('config'):get) of iproto, roles, labels and
    the credentials' password of 'client' is loadtnt's."""
    ours = by_name(resolve_config(live.config, username="client"))
    for name in NAMES:
        theirs = tb.admin_eval(
            live.tcp(name), "local c = require('config') return c:get('iproto'), "
            "c:get('roles'), c:get('labels'), c:get('credentials.users.client.password'), "
            "c:get('process.work_dir')")
        iproto, roles, labels, password, work_dir = theirs
        mine = ours[name]
        assert mine.labels == labels, name
        assert mine.roles == roles, name
        assert mine.password == password == SECRET, name
        assert mine.config["process"]["work_dir"] == work_dir == name
        for key in ("listen", "net_msg_max"):
            assert mine.config["iproto"].get(key, iproto.get(key)) == iproto.get(key), \
                (name, key)
        assert mine.config["iproto"]["advertise"].get("client") == \
            iproto["advertise"].get("client"), name
        assert mine.config["iproto"]["advertise"]["peer"] == iproto["advertise"]["peer"]


@pytest.mark.async_timeout(60)
async def test_pool_from_config_by_each_filter(live: LiveCluster, loop: Any) -> None:
    Pool = tb.driver.Pool
    sock = f"unix/:{live.root}/a1/a1.sock"

    async def names(pool: Any) -> dict[str, str]:
        """endpoint -> box.info.name, asked of each instance of the pool."""
        async with pool:
            out = {}
            for inst in pool.instances:
                out[inst.endpoint] = (await inst.connection.eval("return box.info.name"))[0]
            assert all(s in ("rw", "ro") for s in pool.states().values()), pool.states()
            return out

    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({}, ["a1", "a2", "b1"]),
        ({"groups": "storages"}, ["a1", "a2"]),
        ({"replicasets": "rs-b"}, ["b1"]),
        ({"instances": ["a2", "b1"]}, ["a2", "b1"]),
        ({"roles": "roles.a1"}, ["a1"]),
        ({"roles": "roles.base"}, ["b1"]),
        ({"labels": {"tier": "none"}}, ["a1", "a2"]),
        ({"labels": {"level": "replicaset"}}, ["a2"]),
        ({"uri": "listen", "groups": "storages"}, ["a1", "a2"]),
    ]
    for kw, expected in cases:
        pool = Pool.from_config(live.config, username="client", connect_timeout=5, **kw)
        got = await names(pool)
        assert sorted(got.values()) == expected, kw
        for endpoint, name in got.items():
            assert pool.config_instances[endpoint].name == name
        if "a1" in expected:       # a1 at its advertised unix socket, unless uri='listen'
            assert (sock in got) is (kw.get("uri") != "listen"), got
    # the master of rs-a is a1 (leader): modes work on a config's pool, and Pool's own
    # options pass through
    async with Pool.from_config(live.config, username="client", groups="storages",
                                balancer="least_outstanding") as pool:
        assert pool.balancer == "least_outstanding"
        assert (await pool.eval("return box.info.name", mode="rw"))[0] == "a1"
        assert (await pool.eval("return box.info.name", mode="ro"))[0] == "a2"
        names_any = [(await pool.eval("return box.info.name", mode="any"))[0]
                     for _ in range(4)]
        assert sorted(names_any) == ["a1", "a1", "a2", "a2"]
    # a wrong password is the server's refusal, with the password nowhere in it
    with pytest.raises(Exception) as err:  # the driver's connect error
        async with Pool.from_config(live.config, username="client", password="wrong",
                                    instances="a2", connect_timeout=2):
            pass
    assert "wrong" not in str(err.value)


def test_live_config_is_valid_yaml_for_tarantool() -> None:
    # the template itself (no server): the filters above rely on its shape
    cfg = yaml.safe_load(LIVE_CONFIG % {"p1": 1, "p2": 2, "p3": 3, "secret": SECRET})
    assert [c.name for c in resolve_config(cfg, username="client",
                                           groups="storages")] == ["a1", "a2"]
    assert textwrap.dedent(LIVE_CONFIG) == LIVE_CONFIG


# --- the sharded cluster of issue 22 §1 (loadtnt.server.sharded), from its config.yaml ---------


@pytest.fixture(scope="module")
def sharded() -> Iterator[Any]:
    try:
        from loadtnt.server.sharded import ShardedCluster
    except ImportError:
        pytest.skip("needs loadtnt.server.sharded (the sharded cluster of issue 22 §1)")
    have = version_tuple(binary())
    if have < (3, 0, 2):
        pytest.skip(f"needs Tarantool 3.0.2+ for a sharded cluster's config.yaml (crud's "
                    f"roles); $TARANTOOL is {'.'.join(map(str, have))}")
    with ShardedCluster(shards=2, replicas=2, routers=2) as cluster:
        yield cluster


@pytest.mark.async_timeout(60)
async def test_pool_from_the_sharded_clusters_config(sharded: Any, loop: Any) -> None:
    """The cluster's generated config.yaml (groups storages/routers, crud roles, sharding
    roles, one user in credentials): each filter selects its instances, and the pool logs in
    with the password the config holds (not given here)."""
    Pool = tb.driver.Pool
    path, user = sharded.config_path, sharded.username

    async def names(pool: Any) -> dict[str, str]:
        async with pool:
            return {i.endpoint: (await i.connection.eval("return box.info.name"))[0]
                    for i in pool.instances}

    storages = [n for rs in sharded.storage_names for n in rs]
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"sharding_roles": "router"}, sharded.router_names),
        ({"roles": "roles.crud-router"}, sharded.router_names),
        ({"sharding_roles": "storage"}, storages),
        ({"groups": "storages"}, storages),
        ({"replicasets": "storages-2"}, sharded.storage_names[1]),
        ({"instances": ["router-2", "storage-1-a"]}, ["storage-1-a", "router-2"]),
    ]
    for kw, expected in cases:
        pool = Pool.from_config(path, username=user, connect_timeout=5, **kw)
        got = await names(pool)
        assert sorted(got.values()) == sorted(expected), kw
        assert all(sharded.endpoint(name) == ep for ep, name in got.items())
    # uri='sharding': the config's iproto.advertise.sharding login, its password from the
    # credentials: no username= needed
    async with Pool.from_config(path, uri="sharding", replicasets="storages-1") as pool:
        assert pool.states() == {sharded.endpoint("storage-1-a"): "rw",
                                 sharded.endpoint("storage-1-b"): "ro"}
