"""Runtime parsing of wire messages against the generated specs in ``_protocol.SPECS``.

``parse("ModelPredictResult", obj)`` returns ``obj`` (typed) or raises :class:`ProtocolError` listing every
mismatch as ``(path, message)`` with JSON-pointer paths, like the daemon's ``-32602`` data.
"""

from __future__ import annotations

import re
from typing import Any

from . import _protocol

__all__ = ["ProtocolError", "validate", "parse", "parse_message"]


class ProtocolError(ValueError):
    """A value does not match a protocol type."""

    def __init__(self, type_name: str, issues: list[tuple[str, str]]) -> None:
        self.type_name = type_name
        self.issues = issues
        shown = "; ".join(f"{p or '/'} {m}" for p, m in issues[:5])
        super().__init__(f"not a valid {type_name}: {shown}")


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _check(spec: Any, v: Any, path: str, out: list[tuple[str, str]]) -> None:
    kind = spec[0]
    if kind == "ref":
        _check(_protocol.SPECS[spec[1]], v, path, out)
    elif kind == "obj":
        if not isinstance(v, dict):
            out.append((path, "expected object"))
            return
        fields, additional = spec[1], spec[2]
        for name, (fspec, required) in fields.items():
            if name in v:
                _check(fspec, v[name], f"{path}/{name}", out)
            elif required:
                out.append((f"{path}/{name}", "required property missing"))
        if not additional:
            for name in v:
                if name not in fields:
                    out.append((f"{path}/{name}", "unexpected property"))
    elif kind == "lit":
        if v not in spec[1] or isinstance(v, bool) != any(isinstance(x, bool) for x in spec[1]):
            out.append((path, f"expected one of {list(spec[1])}"))
    elif kind == "union":
        for alt in spec[1]:
            sub: list[tuple[str, str]] = []
            _check(alt, v, path, sub)
            if not sub:
                return
        out.append((path, "matches no alternative of the union"))
    elif kind == "str":
        if not isinstance(v, str):
            out.append((path, "expected string"))
            return
        pattern, max_len = spec[1], spec[2]
        if pattern is not None:
            rx = _PATTERNS.get(pattern) or _PATTERNS.setdefault(pattern, re.compile(pattern))
            if not rx.search(v):
                out.append((path, f"does not match {pattern}"))
        if max_len is not None and len(v) > max_len:
            out.append((path, f"longer than {max_len}"))
    elif kind in ("int", "num"):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if kind == "int" and ok and not float(v).is_integer():
            ok = False
        if not ok:
            out.append((path, f"expected {'integer' if kind == 'int' else 'number'}"))
            return
        lo, hi = spec[1], spec[2]
        if lo is not None and v < lo:
            out.append((path, f"below minimum {lo}"))
        if hi is not None and v > hi:
            out.append((path, f"above maximum {hi}"))
        if kind == "num" and spec[3] is not None and v <= spec[3]:
            out.append((path, f"must be > {spec[3]}"))
    elif kind == "bool":
        if not isinstance(v, bool):
            out.append((path, "expected boolean"))
    elif kind == "list":
        if not isinstance(v, list):
            out.append((path, "expected array"))
            return
        lo, hi = spec[2], spec[3]
        if lo is not None and len(v) < lo:
            out.append((path, f"fewer than {lo} items"))
        if hi is not None and len(v) > hi:
            out.append((path, f"more than {hi} items"))
        for i, item in enumerate(v):
            _check(spec[1], item, f"{path}/{i}", out)
    elif kind == "dict":
        if not isinstance(v, dict):
            out.append((path, "expected object"))
    elif kind == "any":
        pass
    else:  # pragma: no cover - generator and validator out of step
        raise ValueError(f"unknown spec kind {kind!r}")


def validate(type_name: str, value: Any) -> list[tuple[str, str]]:
    """Every mismatch of ``value`` against protocol type ``type_name`` (empty list: valid)."""
    if type_name not in _protocol.SPECS:
        raise KeyError(f"no protocol type {type_name!r}")
    out: list[tuple[str, str]] = []
    _check(_protocol.SPECS[type_name], value, "", out)
    return out


def parse(type_name: str, value: Any) -> Any:
    """Return ``value`` when it is a valid ``type_name``; raise :class:`ProtocolError` otherwise."""
    issues = validate(type_name, value)
    if issues:
        raise ProtocolError(type_name, issues)
    return value


def parse_message(msg: dict[str, Any]) -> tuple[str, Any]:
    """Parse one JSON-RPC frame of the protocol; return (type name checked, payload).

    Requests are checked against their method's params type, notifications against theirs, error responses
    for shape (code, message, data), and result responses need the method (``msg['method']`` absent) so
    callers pass ``{"method": ..., **response}`` or use :func:`parse` with the result type directly.
    """
    if msg.get("jsonrpc") != "2.0":
        raise ProtocolError("JSON-RPC 2.0 message", [("/jsonrpc", "expected '2.0'")])
    method = msg.get("method")
    if "error" in msg:
        err = msg["error"]
        issues = []
        if not isinstance(err, dict) or not isinstance(err.get("code"), int) or not isinstance(err.get("message"), str):
            issues.append(("/error", "expected {code: integer, message: string, data?}"))
        if issues:
            raise ProtocolError("JSON-RPC error", issues)
        return "error", err
    if method in _protocol.NOTIFICATIONS:
        name = _protocol.NOTIFICATIONS[method]
        return name, parse(name, msg.get("params"))
    if method in _protocol.METHODS:
        info = _protocol.METHODS[method]
        if "result" in msg:
            return info.result, parse(info.result, msg["result"])
        return info.params, parse(info.params, msg.get("params"))
    raise ProtocolError("JSON-RPC message", [("/method", f"unknown method {method!r}")])
