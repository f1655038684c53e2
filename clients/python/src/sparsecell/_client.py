"""A synchronous, thread-friendly client for the sparsecell daemon (JSON-RPC 2.0 over one WebSocket).

Usable without napari (e.g. from a notebook)::

    from sparsecell import Client
    c = Client.connect("ws://127.0.0.1:7420", token=None)
    sid = c.session_create(name="demo", family="stardist")["sessionId"]
    img = c.image_add(sid, image)["imageId"]
    c.labels_update(sid, img, sparse_offset1, encoding="offset1")
    c.on_progress(lambda p: print(p["kind"], p.get("step"), p.get("loss")))
    job = c.model_train(sid, steps=200)["jobId"]
    c.wait_for_progress_end(job)
    pred = c.model_predict(sid, img)          # Prediction(labels=np.ndarray, polygons=[...], ...)

One reader thread receives every frame: responses resolve the ``concurrent.futures.Future`` of their call,
notifications go to the ``on_progress`` / ``on_event`` / ``on_heartbeat`` callbacks (called in the reader
thread: hand them to your UI thread, e.g. with a Qt signal). Any thread may call methods concurrently.

The library is ``websocket-client`` (synchronous, thread-safe sends with ``enable_multithread``): a GUI
plugin needs blocking calls from worker threads and callbacks from one reader thread, not an asyncio loop
that would have to be run next to Qt's event loop.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import websocket  # websocket-client

from . import _protocol as P
from ._arrays import Prediction, decode_prediction
from ._methods import TypedMethods, check_end
from ._progress import TrainBar
from ._session import Session
from ._validate import parse
from .errors import ConnectionClosedError, error_class

__all__ = ["Client", "PendingCall"]

log = logging.getLogger("sparsecell")

JsonDict = dict[str, Any]
Listener = Callable[[Any], None]


class PendingCall(Future):
    """The Future of a call in flight; ``id`` is its JSON-RPC id (for ``cancel_request``)."""

    def __init__(self, id: int | str, method: str) -> None:
        super().__init__()
        self.id = id
        self.method = method


@dataclass
class _Listeners:
    progress: list[Listener] = field(default_factory=list)
    event: list[Listener] = field(default_factory=list)
    heartbeat: list[Listener] = field(default_factory=list)
    close: list[Listener] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------------------------
class Client(TypedMethods):
    """One WebSocket connection to a sparsecell daemon. Thread-safe; see the module docstring."""

    def __init__(
        self,
        ws: websocket.WebSocket,
        *,
        url: str = "",
        default_timeout: float | None = 300.0,
        validate: bool = False,
    ) -> None:
        self._ws = ws
        self.url = url
        self.default_timeout = default_timeout
        self.validate = validate
        self._ids = itertools.count(1)
        self._pending: dict[int | str, PendingCall] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._listeners = _Listeners()
        self._progress_last: OrderedDict[Any, JsonDict] = OrderedDict()  # token -> last $/progress
        self._progress_cv = threading.Condition()
        self._closed = False
        self._closing = False
        self.close_reason: str | None = None
        self.last_heartbeat: str | None = None
        self._reader = threading.Thread(target=self._read_loop, name="sparsecell-client-reader", daemon=True)
        self._reader.start()

    # ---- connection ------------------------------------------------------------------------------------------
    @classmethod
    def connect(
        cls,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        default_timeout: float | None = 300.0,
        validate: bool = False,
    ) -> Client:
        """Open a connection; ``token`` is sent as ``Authorization: Bearer <token>``.

        ``validate=True`` checks every params object before sending and every result against the generated
        protocol types (tests use it to hold the daemon to the schema).
        """
        header = [f"Authorization: Bearer {token}"] if token else []
        try:
            ws = websocket.create_connection(
                url, timeout=timeout, header=header, enable_multithread=True, skip_utf8_validation=True
            )
        except websocket.WebSocketBadStatusException as e:
            raise ConnectionRefusedError(f"sparsecell refused the connection: HTTP {e.status_code}") from e
        ws.settimeout(None)  # the reader thread blocks in recv
        return cls(ws, url=url, default_timeout=default_timeout, validate=validate)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, timeout: float = 2.0) -> None:
        """Close the connection; calls still in flight fail with :class:`ConnectionClosedError`."""
        if not self._closed:
            self._closing = True
            try:
                with self._send_lock:
                    self._ws.send_close()
            except Exception:  # noqa: BLE001 - already gone
                pass
        if threading.current_thread() is not self._reader:
            self._reader.join(timeout)
        try:
            self._ws.shutdown()
        except Exception:  # noqa: BLE001
            pass
        self._on_closed("closed by client")

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- listeners ---------------------------------------------------------------------------------------------
    def _add(self, lst: list[Listener], cb: Listener) -> Callable[[], None]:
        with self._lock:
            lst.append(cb)

        def off() -> None:
            with self._lock:
                if cb in lst:
                    lst.remove(cb)

        return off

    def on_progress(self, cb: Callable[[P.ProgressParams], None]) -> Callable[[], None]:
        """Call ``cb(params)`` for every ``$/progress`` (in the reader thread); returns an unsubscribe function."""
        return self._add(self._listeners.progress, cb)

    def on_event(self, cb: Callable[[P.EventParams], None]) -> Callable[[], None]:
        """Call ``cb(params)`` for every ``$/event`` (raw dict; see :func:`decode_prediction`)."""
        return self._add(self._listeners.event, cb)

    def on_prediction(self, cb: Callable[[Prediction], None]) -> Callable[[], None]:
        """Call ``cb(Prediction)`` for every ``prediction.updated`` event, labels decoded."""
        return self.on_event(lambda ev: cb(decode_prediction(ev)) if ev.get("type") == "prediction.updated" else None)

    def on_heartbeat(self, cb: Callable[[P.HeartbeatParams], None]) -> Callable[[], None]:
        return self._add(self._listeners.heartbeat, cb)

    def on_close(self, cb: Callable[[str], None]) -> Callable[[], None]:
        """Call ``cb(reason)`` once when the connection ends."""
        return self._add(self._listeners.close, cb)

    def _emit(self, lst: list[Listener], value: Any) -> None:
        with self._lock:
            cbs = list(lst)
        for cb in cbs:
            try:
                cb(value)
            except Exception:  # noqa: BLE001 - a listener must not kill the reader
                log.exception("sparsecell listener %r failed", cb)

    # ---- reader --------------------------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        reason = "connection closed by server"
        try:
            while True:
                opcode, data = self._ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    if self._closing:
                        reason = "closed by client"
                    break
                if opcode not in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                    continue
                try:
                    msg = json.loads(data)
                except ValueError:
                    log.warning("sparsecell: dropped a frame that is not JSON")
                    continue
                for m in msg if isinstance(msg, list) else [msg]:
                    if isinstance(m, dict):
                        self._dispatch(m)
        except Exception as e:  # noqa: BLE001 - socket closed / reset
            reason = "closed by client" if self._closing else f"connection lost: {e!r}"
        self._on_closed(reason)

    def _on_closed(self, reason: str) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.close_reason = reason
            pending = list(self._pending.values())
            self._pending.clear()
        for fut in pending:
            if not fut.done():
                fut.set_exception(ConnectionClosedError(f"{fut.method}: {reason}"))
        with self._progress_cv:
            self._progress_cv.notify_all()
        self._emit(self._listeners.close, reason)

    def _dispatch(self, m: JsonDict) -> None:
        if "method" in m and ("result" not in m and "error" not in m):
            method, params = m["method"], m.get("params")
            if method == P.N_PROGRESS:
                with self._progress_cv:
                    self._progress_last[params.get("token")] = params
                    self._progress_last.move_to_end(params.get("token"))
                    while len(self._progress_last) > 256:
                        self._progress_last.popitem(last=False)
                    self._progress_cv.notify_all()
                self._emit(self._listeners.progress, params)
            elif method == P.N_EVENT:
                self._emit(self._listeners.event, params)
            elif method == P.N_HEARTBEAT:
                self.last_heartbeat = (params or {}).get("serverTime")
                self._emit(self._listeners.heartbeat, params)
            return
        with self._lock:
            fut = self._pending.pop(m.get("id"), None)
        if fut is None:
            log.debug("sparsecell: answer to unknown id %r", m.get("id"))
            return
        try:
            if "error" in m and m["error"] is not None:
                e = m["error"]
                code = e.get("code", -32603)
                fut.set_exception(error_class(code)(code, e.get("message", ""), e.get("data"), fut.method))
                return
            result = m.get("result")
            if self.validate and fut.method in P.METHODS:
                try:
                    parse(P.METHODS[fut.method].result, result)
                except Exception as e:  # noqa: BLE001
                    fut.set_exception(e)
                    return
            fut.set_result(result)
        except InvalidStateError:  # the caller cancelled the Future (an asyncio task was cancelled)
            pass

    # ---- calls ------------------------------------------------------------------------------------------------
    def call_async(self, method: str, params: JsonDict | None = None, *, id: int | str | None = None) -> PendingCall:
        """Send a request; return its :class:`PendingCall` (a Future) at once."""
        params = {} if params is None else params
        if self.validate and method in P.METHODS:
            parse(P.METHODS[method].params, params)
        rid = next(self._ids) if id is None else id
        fut = PendingCall(rid, method)
        text = json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}, separators=(",", ":"))
        with self._lock:
            if self._closed:
                raise ConnectionClosedError(f"{method}: {self.close_reason or 'connection closed'}")
            self._pending[rid] = fut
        try:
            with self._send_lock:
                self._ws.send(text)
        except Exception as e:  # noqa: BLE001
            with self._lock:
                self._pending.pop(rid, None)
            raise ConnectionClosedError(f"{method}: send failed: {e!r}") from e
        return fut

    def call(
        self,
        method: str,
        params: JsonDict | None = None,
        *,
        timeout: float | None = None,
        id: int | str | None = None,
    ) -> Any:
        """Send a request and wait for its result; raises :class:`RpcError` on an error answer."""
        fut = self.call_async(method, params, id=id)
        t = self.default_timeout if timeout is None else timeout
        try:
            return fut.result(t)
        except FutureTimeout:
            with self._lock:
                self._pending.pop(fut.id, None)
            raise TimeoutError(f"{method}: no answer within {t} s") from None

    def notify(self, method: str, params: JsonDict | None = None) -> None:
        """Send a notification (no id, no answer)."""
        text = json.dumps({"jsonrpc": "2.0", "method": method, "params": params or {}}, separators=(",", ":"))
        with self._send_lock:
            self._ws.send(text)

    def cancel_request(self, id: int | str) -> None:
        """``$/cancelRequest``: the in-flight request ``id`` answers -32800 RequestCancelled."""
        self.notify(P.N_CANCEL_REQUEST, {"id": id})

    def send_raw(self, text: str) -> None:
        """Send a raw text frame (tests of malformed input)."""
        with self._send_lock:
            self._ws.send(text)

    # ---- progress helpers ---------------------------------------------------------------------------------------
    def last_progress(self, token: Any) -> JsonDict | None:
        """The newest ``$/progress`` seen for ``token`` (kept for the last 256 tokens)."""
        with self._progress_cv:
            return self._progress_last.get(token)

    def wait_for_progress_end(self, token: Any, timeout: float | None = 300.0) -> JsonDict:
        """Block until the ``$/progress`` ``end`` of ``token`` (also when it came before this call)."""
        with self._progress_cv:
            self._progress_cv.wait_for(
                lambda: self._closed or (self._progress_last.get(token) or {}).get("kind") == "end", timeout
            )
            last = self._progress_last.get(token)
        if last is not None and last.get("kind") == "end":
            return last
        if self._closed:
            raise ConnectionClosedError(f"waiting for {token}: {self.close_reason}")
        raise TimeoutError(f"no $/progress end for {token!r} within {timeout} s")

    # ---- typed methods (TypedMethods) and helpers ------------------------------------------------------------
    def _invoke(
        self, method: str, params: JsonDict, finish: Callable[[Any], Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        result = self.call(method, params, timeout=timeout)
        return result if finish is None else finish(result)

    def _then(self, value: Any, fn: Callable[[Any], Any]) -> Any:
        return fn(value)

    def model_predict_async(self, session_id: str, image_id: str, **options: Any) -> PendingCall:
        """Like :meth:`model_predict` (same keyword options but ``timeout``), returning the PendingCall at once
        (cancel with ``cancel_request(call.id)``); its result is the raw ``ModelPredictResult`` (see
        :func:`decode_prediction`)."""
        return self.call_async(P.M_MODEL_PREDICT, self._predict_params(session_id, image_id, **options))

    def train(
        self,
        session_id: str,
        *,
        progress: bool | dict[str, Any] = True,
        timeout: float | None = None,
        **train_args: Any,
    ) -> JsonDict:
        """``model.train`` and wait for it to end, with a tqdm progress bar; returns the ``$/progress`` ``end``.

        ``train_args`` are :meth:`model_train`'s (``steps``, ``time_limit_s``, ``options``, ``start_from``, ...).
        ``progress``: ``False`` for no bar, or a dict of ``tqdm`` arguments (``{"file": sys.stdout}``). A job that
        fails raises :class:`TrainingFailed`; a cancelled one returns its ``end`` (``state: "cancelled"``).
        """
        bar = TrainBar(progress)
        off = self.on_progress(bar.feed)
        try:
            job = self.model_train(session_id, **train_args)["jobId"]
            bar.watch(job, self.last_progress(job))
            end = self.wait_for_progress_end(job, timeout=timeout)
        finally:
            off()
            bar.close()
        return check_end(end)

    def session(
        self, name: str | None = None, family: str | None = None, *, delete: bool = False, **create_args: Any
    ) -> Session:
        """``session.create`` now, as a :class:`Session` whose ``with`` block closes it (``delete=True``: removes it).

        ``create_args``: :meth:`session_create`'s ``config``, ``auto_background``, ``starter``. ``session_id=``
        reopens a stored session instead (``session.get``).
        """
        s = Session(self, dict(name=name, family=family, **create_args), delete=delete)
        if s.id is None:
            s.id = self.session_create(**s._create_args)["sessionId"]
        else:
            self.session_get(s.id)
        return s
