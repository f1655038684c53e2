"""Exceptions: a JSON-RPC error answer raises an :class:`RpcError` subclass named after its code.

``RpcError`` subclasses are made from the generated ``ErrorCode`` enum, one per protocol error code
(``SessionNotFoundError``, ``InvalidParamsError``, ``ModelNotTrainedError``, ...), so that a new code in the
protocol gets its class without an edit here::

    try:
        c.session_get("nope")
    except sparsecell.errors.SessionNotFoundError as e:
        print(e.code, e.message)
    except sparsecell.RpcError as e:          # any other error answer
        print(e.name, e.fields)
"""

from __future__ import annotations

from typing import Any

from . import _protocol as P

__all__ = ["RpcError", "ConnectionClosedError", "error_class", "ErrorCode"]

ErrorCode = P.ErrorCode


class RpcError(Exception):
    """A JSON-RPC error answer: ``code`` (see :class:`ErrorCode`), ``message``, ``data`` and the ``method`` called.

    For invalid params (-32602) ``data`` is a list of ``{path, message}``: ``issues`` holds it, ``fields`` the
    paths (``"/labels/shape"``) and ``field`` the first one.
    """

    def __init__(self, code: int, message: str, data: Any = None, method: str | None = None) -> None:
        self.code = int(code)
        self.message = message
        self.data = data
        self.method = method
        where = f" ({method}{': ' + ', '.join(self.fields) if self.fields else ''})" if method else ""
        super().__init__(f"[{self.name} {self.code}] {message}{where}")

    @property
    def name(self) -> str:
        """The code's name in the protocol (``"SessionNotFound"``), or ``"Error"`` for a code it does not list."""
        try:
            return ErrorCode(self.code).name
        except ValueError:
            return "Error"

    @property
    def issues(self) -> list[dict[str, Any]]:
        """The ``[{path, message}]`` of an invalid-params error (else empty)."""
        return [i for i in self.data if isinstance(i, dict)] if isinstance(self.data, list) else []

    @property
    def fields(self) -> list[str]:
        """The JSON pointers of the params the daemon refused (``["/steps"]``), for invalid params."""
        return [str(i.get("path", "")) for i in self.issues]

    @property
    def field(self) -> str | None:
        """The first refused field, or None."""
        return self.fields[0] if self.fields else None

    def __reduce__(self):  # picklable across processes / thread workers
        return (error_class(self.code), (self.code, self.message, self.data, self.method))


class ConnectionClosedError(ConnectionError):
    """The WebSocket closed while a call waited for its answer, or a call was made after close()."""


_BY_CODE: dict[int, type[RpcError]] = {}
for _code in ErrorCode:
    _cls = type(
        f"{_code.name}Error",
        (RpcError,),
        {"__doc__": f"{int(_code)} {_code.name}: {P.ERROR_DESCRIPTIONS.get(_code, '')}", "__module__": __name__},
    )
    _BY_CODE[int(_code)] = _cls
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)


def error_class(code: int) -> type[RpcError]:
    """The :class:`RpcError` subclass for a code (``RpcError`` itself for a code the protocol does not list)."""
    return _BY_CODE.get(int(code), RpcError)
