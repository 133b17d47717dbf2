"""What the server told IPROTO_ID: its protocol version, features and auth type."""

from __future__ import annotations

from typing import Any

__all__ = ("IProtoFeatures",)

# IPROTO_FEATURE_* ids (src/box/iproto_features.h), by asynctnt's attribute names
_FEATURES = (
    "streams",
    "transactions",
    "error_extension",
    "watchers",
    "pagination",
    "space_and_index_names",
    "watch_once",
    "dml_tuple_extension",
    "call_ret_tuple_extension",
    "call_arg_tuple_extension",
)


class IProtoFeatures:
    """``conn.features``: each of asynctnt's feature names is True when the server has it.

    A server without IPROTO_ID (before 2.10) has none of them; ``protocol_version`` is 0
    there. ``auth_type`` is the server's authentication method (``'chap-sha1'`` by
    default); ``ids`` the raw feature ids."""

    __slots__ = ("auth_type", "ids", "protocol_version", *_FEATURES)

    streams: bool
    transactions: bool
    error_extension: bool
    watchers: bool
    pagination: bool
    space_and_index_names: bool
    watch_once: bool
    dml_tuple_extension: bool
    call_ret_tuple_extension: bool
    call_arg_tuple_extension: bool

    def __init__(self, version: int = 0, ids: Any = (), auth_type: str | None = None):
        self.protocol_version = int(version or 0)
        self.ids = tuple(int(i) for i in (ids or ()))
        self.auth_type = auth_type
        for i, name in enumerate(_FEATURES):
            setattr(self, name, i in self.ids)

    @classmethod
    def from_id_reply(cls, body: Any) -> IProtoFeatures:
        if not isinstance(body, dict):
            return cls()
        auth = body.get("auth_type")
        if isinstance(auth, bytes):
            auth = auth.decode("utf-8", "replace")
        return cls(body.get("version") or 0, body.get("features") or (), auth)

    def __repr__(self) -> str:
        flags = " ".join(f"{name}={getattr(self, name)}" for name in _FEATURES)
        return f"<IProtoFeatures version={self.protocol_version} {flags}>"
