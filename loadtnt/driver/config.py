"""Pools from a Tarantool 3.x cluster config: ``Pool.from_config(config, ...)``.

::

    pool = Pool.from_config('config.yaml', groups='routers', username='client')
    pool = Pool.from_config(cfg_dict, roles='roles.crud-router', labels={'dc': 'east'})

The config (a YAML file's path or the dict it holds) is resolved per instance the way
Tarantool 3 does it (``src/box/lua/config/cluster_config.lua``, ``configdata.lua``):

- **Inheritance**: the global section, then the instance's group, its replica set, the
  instance itself, each merged over the one before: maps (``labels``, ``iproto``,
  ``credentials.users``, ...) deeply, key by key; lists (``roles``, ``iproto.listen``,
  ``sharding.roles``) and scalars replaced whole by the more specific level. A ``null`` never
  overrides a value (Tarantool's box.NULL rule).
- **Variables**: ``{{ instance_name }}``, ``{{ replicaset_name }}``, ``{{ group_name }}`` and
  ``{{ context.NAME }}`` (``config.context.NAME`` with ``from: env`` or ``from: file``) in the
  string values that are read here (iproto URIs, roles, labels, credentials,
  ``process.work_dir``); any other variable is an error, as in Tarantool.
- ``conditional:`` sections depend on the servers' version, which a client cannot know
  before it connects: they are not applied, and a warning says so.

Filters (each a name or a list of names; an instance must pass all that are given):
``groups``, ``replicasets``, ``instances``; ``roles`` (an instance with any of them);
``sharding_roles`` (``'router'``, ``'storage'``, ``'rebalancer'``: any of them);
``labels`` (a dict: every key must have that value, or one of a list of values). A filter
naming a group, replica set or instance the config does not have is an error (a typo must not
silently select fewer instances), and so is a selection that leaves nothing.

The address of each instance (``uri=``):

- ``'client'`` (default): ``iproto.advertise.client``, else the first ``iproto.listen`` URI a
  client can connect to (Tarantool's own rule: not ``0.0.0.0``, not ``::``, not port 0).
- ``'listen'``: that ``iproto.listen`` URI, ignoring the advertised one.
- ``'peer'`` / ``'sharding'``: ``iproto.advertise.peer`` / ``.sharding`` (``sharding``
  falls back to ``peer``), whose ``uri`` falls back to listen as above, and whose ``login``
  (and ``password``) become the pool's user.

``iproto.listen`` may be a list of ``{uri: ..., params: ...}`` (Tarantool 3's form) or of
strings, one such item, or a string; ``advertise.client`` a string or ``{uri: ...}``. An URI
whose ``params.transport`` is ``ssl`` is skipped for a plain one after it (loadtnt.driver does
not speak SSL, a Tarantool Enterprise feature); only SSL URIs is an error.

- **Unix sockets** (``unix/:/path/to.sock``) are connected to as such. A relative socket path
  is relative to the instance's working directory: ``process.work_dir`` when the config sets
  it, itself taken relative to the config file's directory (or the current directory for a
  dict config) - the directory ``tarantool --config`` is usually started from.
- **``user@host:port``** (or ``user:password@host:port``) in an advertised or listen URI: the
  ``host:port`` part is the address; the user becomes the pool's user when ``username=`` is not
  given (all selected instances must then name the same one); a password in the URI is used
  for it (never shown). Tarantool 3 itself refuses a user in ``advertise.client``; this
  accepts it, for configs written for other tools.

Credentials: ``username=`` and ``password=`` when given; without ``password=``, the password
of that user in the resolved ``credentials.users`` (a user without one there, and guest, get
none). Without ``username=``, the URI's user (``peer``/``sharding``, ``user@``) or else guest.
Passwords are never in messages, reprs or logs. One pool has one user: instances whose
resolved passwords differ are an error.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .pool import Pool

__all__ = ("ConfigError", "ConfigInstance", "pool_from_config", "resolve_config")

logger = logging.getLogger("loadtnt.driver")

URI_KINDS = ("client", "listen", "peer", "sharding")
_VAR = re.compile(r"\{\{ *(.*?) *\}\}")      # Lua's '{{ *(.-) *}}'
_SUBSTITUTED = ("iproto", "sharding", "credentials", "process")
_USER = re.compile(r"^([^@/]*)@(.*)$")
_TOPOLOGY = ("groups", "replicasets", "instances", "leader", "bootstrap_leader")


class ConfigError(ValueError):
    """The cluster config cannot give a pool: unreadable, no match, no address, ..."""


@dataclass
class ConfigInstance:
    """One instance of the config as resolved: its names, where it is, its roles and labels.
    ``config`` is its whole resolved instance config (variables substituted only in what
    this module reads). The password is kept out of the repr."""

    name: str
    replicaset: str
    group: str
    endpoint: str
    roles: list[str] = field(default_factory=list)
    sharding_roles: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    config: dict[str, Any] = field(default_factory=dict, repr=False)


# --- loading and merging ---------------------------------------------------------------------


def _load(config: Any) -> tuple[dict[str, Any], str]:
    """The config as a dict, and the directory relative paths are taken from."""
    if isinstance(config, Mapping):
        return dict(config), os.getcwd()
    if isinstance(config, (str, os.PathLike)):
        import yaml

        path = os.fspath(config)
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f)
        except OSError as e:
            raise ConfigError(f"cannot read the cluster config {path}: {e.strerror or e}") \
                from None
        except yaml.YAMLError as e:
            raise ConfigError(f"the cluster config {path} is not valid YAML: {e}") from None
        if not isinstance(data, Mapping):
            raise ConfigError(f"the cluster config {path} is not a YAML mapping "
                              f"(it holds {type(data).__name__})")
        return dict(data), os.path.dirname(os.path.abspath(path))
    raise TypeError(f"a cluster config is a path or a dict, not {type(config).__name__}")


def merge(a: Any, b: Any) -> Any:
    """Tarantool's schema merge: ``b`` over ``a``; maps deeply, lists and scalars whole;
    None (box.NULL) never overrides."""
    if b is None:
        return a
    if a is None:
        return b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(a.get(k), v)
        return out
    return b


def _section(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping, not {type(value).__name__}")
    return dict(value)


def _own(level: Mapping[str, Any]) -> dict[str, Any]:
    """A level's own options, without the topology below it."""
    return {k: v for k, v in level.items() if k not in _TOPOLOGY}


def _get(cfg: Mapping[str, Any], path: str) -> Any:
    node: Any = cfg
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


# --- variables -------------------------------------------------------------------------------


class _Vars:
    def __init__(self, names: dict[str, str], cfg: Mapping[str, Any], base_dir: str,
                 instance: str):
        self.vars: dict[str, str | _Lazy] = dict(names)
        self.instance = instance
        self.base_dir = base_dir
        for name, spec in _section(_get(cfg, "config.context"),
                                   "config.context").items():
            self.vars[f"context.{name}"] = _Lazy(name, spec, base_dir)

    def sub(self, value: Any, path: str) -> Any:
        """``value`` with its variables substituted (strings, and strings in lists and
        maps)."""
        if isinstance(value, str):
            return _VAR.sub(lambda m: self._one(m.group(1), path), value)
        if isinstance(value, list):
            return [self.sub(v, f"{path}[{i + 1}]") for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            return {k: self.sub(v, f"{path}.{k}") for k, v in value.items()}
        return value

    def _one(self, name: str, path: str) -> str:
        value = self.vars.get(name)
        if value is None:
            raise ConfigError(f"instance {self.instance}: {path}: unknown variable {name!r} "
                              f"(Tarantool knows instance_name, replicaset_name, group_name "
                              f"and config.context.*)")
        if isinstance(value, _Lazy):
            value = self.vars[name] = value.read(self.instance)
        return value


class _Lazy:
    """A config.context variable, read when first used."""

    def __init__(self, name: str, spec: Any, base_dir: str):
        self.name, self.spec, self.base_dir = name, spec, base_dir

    def read(self, instance: str) -> str:
        spec = self.spec if isinstance(self.spec, Mapping) else {}
        where = f"instance {instance}: config.context.{self.name}"
        if spec.get("from") == "env":
            value = os.environ.get(str(spec.get("env")))
            if value is None:
                raise ConfigError(f"{where}: no {spec.get('env')!r} environment variable")
        elif spec.get("from") == "file":
            path = os.path.join(self.base_dir, str(spec.get("file")))
            try:
                with open(path, encoding="utf-8") as f:
                    value = f.read()
            except OSError as e:
                raise ConfigError(f"{where}: cannot read {path}: {e.strerror or e}") from None
        else:
            raise ConfigError(f"{where}: 'from' must be 'env' or 'file'")
        return value.rstrip() if spec.get("rstrip") else value


# --- addresses -------------------------------------------------------------------------------


def _uri_items(value: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """(uri, params) of a listen/advertise value in any of its forms."""
    if value is None:
        return []
    if isinstance(value, str):
        return [(u.strip(), {}) for u in value.split(",") if u.strip()]
    if isinstance(value, Mapping):
        if value.get("uri") is None:
            return []
        return [(str(value["uri"]), dict(value.get("params") or {}))]
    if isinstance(value, list):
        out = []
        for item in value:
            out += _uri_items(item, where)
        return out
    if isinstance(value, int) and not isinstance(value, bool):
        return [(str(value), {})]
    raise ConfigError(f"{where}: an URI, a list of URIs or {{uri: ...}} entries, not "
                      f"{type(value).__name__}")


def _parse_uri(uri: str, where: str) -> tuple[str, str | None, str | None]:
    """``'host:port'`` or ``'unix/:path'`` for Pool, and the URI's login and password."""
    text = uri.strip()
    for scheme in ("tcp://", "iproto://"):
        text = text.removeprefix(scheme)
    login = password = None
    m = _USER.match(text)          # user@host:port, user:pass@host:port, user@unix/:path
    if m is not None:
        login, sep, pw = m.group(1).partition(":")
        password = pw if sep else None
        text = m.group(2)
    if "?" in text and not text.startswith("unix/:"):
        text = text.split("?", 1)[0]       # URI parameters: nothing the driver uses
    if not text:
        raise ConfigError(f"{where}: no address in URI")
    return text, login or None, password


def _suitable(address: str) -> bool:
    """Tarantool's uri_is_suitable_to_connect: not INADDR_ANY, not in6addr_any, not port 0."""
    if address.startswith("unix/:"):
        return True
    host, sep, port = address.rpartition(":")
    if not sep:
        host, port = "", address
    return host.strip("[]") not in ("0.0.0.0", "::") and port != "0"


def _endpoint(address: str, work_dir: str) -> str:
    if address.startswith("unix/:"):
        path = address[len("unix/:"):]
        return "unix/:" + (path if os.path.isabs(path) else
                           os.path.normpath(os.path.join(work_dir, path)))
    if address.startswith(("/", "./")):
        return "unix/:" + (address if os.path.isabs(address) else
                           os.path.normpath(os.path.join(work_dir, address)))
    if ":" not in address:          # a bare port: this host, as net.box takes it
        return f"localhost:{address}"
    return address


def _pick(items: list[tuple[str, dict[str, Any]]], where: str, listen: bool
          ) -> tuple[str, str | None, str | None] | None:
    ssl_only = False
    for uri, params in items:
        parsed = _parse_uri(uri, where)
        if listen and not _suitable(parsed[0]):
            continue
        if str(params.get("transport", "plain")) == "ssl":
            ssl_only = True
            continue
        return parsed
    if ssl_only:
        raise ConfigError(f"{where}: only SSL URIs (params.transport: ssl, Tarantool "
                          f"Enterprise), which loadtnt.driver does not speak")
    return None


def _address(cfg: Mapping[str, Any], kind: str, name: str, work_dir: str
             ) -> tuple[str, str | None, str | None]:
    """(endpoint, login, password) of an instance for ``uri=kind``."""
    listen = _get(cfg, "iproto.listen")
    login = password = None
    uri_value: Any = None
    if kind == "client":
        uri_value = _get(cfg, "iproto.advertise.client")
    elif kind in ("peer", "sharding"):
        adv = _get(cfg, f"iproto.advertise.{kind}")
        if adv is None and kind == "sharding":
            adv = _get(cfg, "iproto.advertise.peer")
        if isinstance(adv, Mapping):
            login, password = adv.get("login"), adv.get("password")
            uri_value = adv.get("uri")
        else:
            uri_value = adv              # 3.0 betas: 'user@host:port' or 'user@'
            if isinstance(adv, str) and adv.endswith("@"):
                cred = adv[:-1]
                login, sep, pw = cred.partition(":")
                password = pw if sep else None
                uri_value = None
    if uri_value is not None:
        found = _pick(_uri_items(uri_value, f"instance {name}: iproto.advertise.{kind}"),
                      f"instance {name}: iproto.advertise.{kind}", listen=False)
        if found is not None:
            return (_endpoint(found[0], work_dir), login or found[1],
                    password if password is not None else found[2])
    where = f"instance {name}: iproto.listen"
    found = _pick(_uri_items(listen, where), where, listen=True)
    if found is None:
        if listen is None:
            also = "" if kind == "listen" else f" (and no iproto.advertise.{kind} URI)"
            raise ConfigError(f"instance {name} has no iproto.listen{also}: a client cannot "
                              f"know where it is")
        raise ConfigError(f"{where}: no URI a client can connect to (0.0.0.0, :: and port "
                          f"0 are for listening only): set iproto.advertise.client")
    return _endpoint(found[0], work_dir), login or found[1], \
        password if password is not None else found[2]


# --- resolution ------------------------------------------------------------------------------


def _names(value: str | Iterable[str] | None, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    names = [str(v) for v in value]
    if not names:
        raise ConfigError(f"{what}= names nothing (an empty list)")
    return names


def _topology(data: Mapping[str, Any]) -> list[tuple[str, str, str, dict, dict, dict]]:
    """(group, replicaset, instance, group level, replicaset level, instance level), in the
    config's order."""
    out = []
    groups = _section(data.get("groups"), "groups")
    for gname, group in groups.items():
        group = _section(group, f"groups.{gname}")
        for rname, rs in _section(group.get("replicasets"),
                                  f"groups.{gname}.replicasets").items():
            rs = _section(rs, f"groups.{gname}.replicasets.{rname}")
            for iname, inst in _section(
                    rs.get("instances"),
                    f"groups.{gname}.replicasets.{rname}.instances").items():
                out.append((str(gname), str(rname), str(iname), group, rs,
                            _section(inst, f"instance {iname}")))
    return out


def resolve_config(config: str | os.PathLike[str] | Mapping[str, Any], *,
                   groups: str | Iterable[str] | None = None,
                   replicasets: str | Iterable[str] | None = None,
                   instances: str | Iterable[str] | None = None,
                   roles: str | Iterable[str] | None = None,
                   sharding_roles: str | Iterable[str] | None = None,
                   labels: Mapping[str, Any] | None = None,
                   uri: str = "client", username: str | None = None,
                   password: str | None = None) -> list[ConfigInstance]:
    """The instances of a Tarantool 3.x cluster config that pass the filters, resolved (see
    the module). Raises ConfigError when nothing matches or an instance has no address."""
    if uri not in URI_KINDS:
        raise ValueError(f"uri= is one of {', '.join(map(repr, URI_KINDS))}, not {uri!r}")
    data, base_dir = _load(config)
    if data.get("conditional"):
        logger.warning("from_config: the config's conditional sections depend on the "
                       "servers' Tarantool version and are not applied")
    topology = _topology(data)
    if not topology:
        raise ConfigError("the cluster config has no instances (groups: -> replicasets: -> "
                          "instances:)")
    want = {"groups": _names(groups, "groups"), "replicasets": _names(replicasets,
            "replicasets"), "instances": _names(instances, "instances")}
    have = {"groups": {t[0] for t in topology}, "replicasets": {t[1] for t in topology},
            "instances": {t[2] for t in topology}}
    for what, names in want.items():
        unknown = [n for n in names or () if n not in have[what]]
        if unknown:
            raise ConfigError(f"the cluster config has no {what} {', '.join(unknown)} (it "
                              f"has {', '.join(sorted(have[what]))})")
    want_roles = _names(roles, "roles")
    want_sharding = _names(sharding_roles, "sharding_roles")
    if labels is not None and not isinstance(labels, Mapping):
        raise TypeError("labels= is a dict of label: value (or a list of values)")
    base = _own(data)
    chosen: list[ConfigInstance] = []
    for gname, rname, iname, group, rs, inst in topology:
        if want["groups"] is not None and gname not in want["groups"]:
            continue
        if want["replicasets"] is not None and rname not in want["replicasets"]:
            continue
        if want["instances"] is not None and iname not in want["instances"]:
            continue
        cfg = merge(merge(merge(base, _own(group)), _own(rs)), _own(inst))
        subst = _Vars({"instance_name": iname, "replicaset_name": rname, "group_name": gname},
                      cfg, base_dir, iname)
        inst_roles = [str(r) for r in subst.sub(cfg.get("roles") or [], "roles")]
        inst_sharding = [str(r) for r in subst.sub(_get(cfg, "sharding.roles") or [],
                                                   "sharding.roles")]
        inst_labels = {str(k): str(v) for k, v in
                       subst.sub(_section(cfg.get("labels"), "labels"), "labels").items()}
        if want_roles is not None and not set(want_roles) & set(inst_roles):
            continue
        if want_sharding is not None and not set(want_sharding) & set(inst_sharding):
            continue
        if labels is not None and not all(_label_ok(inst_labels.get(k), v)
                                          for k, v in labels.items()):
            continue
        for key in _SUBSTITUTED:      # what is read here (Tarantool: every string option)
            if key in cfg:
                cfg[key] = subst.sub(cfg[key], key)
        cfg.update(roles=inst_roles, labels=inst_labels)
        work_dir = _get(cfg, "process.work_dir")
        work_dir = os.path.join(base_dir, work_dir) if work_dir else base_dir
        endpoint, login, uri_password = _address(cfg, uri, iname, work_dir)
        user = username if username is not None else login
        secret: str | None
        if password is not None:
            secret = password
        elif username is None and login is not None and uri_password is not None:
            secret = uri_password
        elif user is not None and user != "guest":
            users = _section(_get(cfg, "credentials.users"), "credentials.users")
            user_def = users.get(user)
            secret = user_def.get("password") if isinstance(user_def, Mapping) else None
        else:
            secret = None
        chosen.append(ConfigInstance(iname, rname, gname, endpoint, inst_roles, inst_sharding,
                                     inst_labels, user, secret, cfg))
    if not chosen:
        given = {k: v for k, v in (("groups", groups), ("replicasets", replicasets),
                                   ("instances", instances), ("roles", roles),
                                   ("sharding_roles", sharding_roles), ("labels", labels))
                 if v is not None}
        raise ConfigError("no instance of the cluster config matches "
                          + ", ".join(f"{k}={v!r}" for k, v in given.items())
                          + f" (its instances: {', '.join(t[2] for t in topology)})")
    return chosen


def _label_ok(have: str | None, want: Any) -> bool:
    if have is None:
        return False
    if isinstance(want, (list, tuple, set, frozenset)):
        return have in {str(w) for w in want}
    return have == str(want)


def pool_from_config(cls: type[Pool], config: Any, *, groups: Any = None,
                     replicasets: Any = None, instances: Any = None, roles: Any = None,
                     sharding_roles: Any = None, labels: Mapping[str, Any] | None = None,
                     uri: str = "client", username: str | None = None,
                     password: str | None = None, **pool_options: Any) -> Pool:
    """Pool.from_config's body: a Pool (of class ``cls``) over the instances the filters
    select; ``pool.config_instances`` maps each endpoint to its ConfigInstance."""
    chosen = resolve_config(config, groups=groups, replicasets=replicasets,
                            instances=instances, roles=roles, sharding_roles=sharding_roles,
                            labels=labels, uri=uri, username=username, password=password)
    users = {c.username for c in chosen}
    if len(users) > 1:
        raise ConfigError("the selected instances name different users in their URIs ("
                          + ", ".join(sorted(str(u) for u in users))
                          + "): give username= (a pool has one user)")
    secrets = {c.password for c in chosen}
    if len(secrets) > 1:
        raise ConfigError(f"user {chosen[0].username!r} has different passwords on the "
                          f"selected instances (credentials differ by group, replica set or "
                          f"instance): give password= or select instances that agree")
    seen: dict[str, str] = {}
    for c in chosen:
        if c.endpoint in seen:
            raise ConfigError(f"instances {seen[c.endpoint]} and {c.name} have the same "
                              f"address {c.endpoint}")
        seen[c.endpoint] = c.name
    pool = cls([c.endpoint for c in chosen], username=chosen[0].username,
               password=chosen[0].password, **pool_options)
    pool.config_instances = {c.endpoint: c for c in chosen}
    return pool
