"""A synchronous, thread-friendly client for the sparsecell daemon (JSON-RPC 2.0 over one WebSocket).

Usable without napari (e.g. from a notebook)::

    from sparsecell_napari.client import Client
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

import base64
import itertools
import json
import logging
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import websocket  # websocket-client

from . import _protocol as P
from ._validate import parse

__all__ = [
    "Client",
    "RpcError",
    "ConnectionClosedError",
    "PendingCall",
    "Prediction",
    "LabelsResult",
    "encode_ndarray",
    "decode_ndarray",
    "signed_to_offset1",
    "offset1_to_signed",
    "decode_prediction",
    "ErrorCode",
]

ErrorCode = P.ErrorCode
log = logging.getLogger("sparsecell_napari.client")

JsonDict = dict[str, Any]
Listener = Callable[[Any], None]

# --------------------------------------------------------------------------------------------------------------
# NdArray encoding
# --------------------------------------------------------------------------------------------------------------
_WIRE_DTYPES = {"uint8": "<u1", "uint16": "<u2", "int16": "<i2", "int32": "<i4", "float32": "<f4"}


def _wire_dtype(arr: np.ndarray) -> str:
    """Pick the protocol dtype for an array, converting only when the wire has no such type."""
    dt = arr.dtype
    if dt == np.bool_:
        return "uint8"
    if dt.kind in "ui":
        for name in ("uint8", "uint16", "int16", "int32"):
            wire = np.dtype(_WIRE_DTYPES[name])
            if dt.kind == wire.kind and dt.itemsize == wire.itemsize:  # any byte order
                return name
        if dt == np.int8:
            return "int16"
        # int64 / uint32 / uint64: fits int32 when the values do
        if arr.size:
            lo, hi = int(arr.min()), int(arr.max())
            if lo < np.iinfo(np.int32).min or hi > np.iinfo(np.int32).max:
                raise ValueError(f"values {lo}..{hi} of dtype {dt} do not fit the protocol's int32")
        return "int32"
    if dt.kind == "f":
        return "float32"
    raise TypeError(f"dtype {dt} cannot be sent (protocol dtypes: {', '.join(_WIRE_DTYPES)})")


def encode_ndarray(arr: Any, *, deflate: bool = False, level: int = 1) -> JsonDict:
    """NumPy array -> protocol ``NdArray`` (base64 of little-endian C-order bytes, optionally zlib).

    No copy is made when the array is already C-contiguous, little-endian and of a protocol dtype.
    """
    a = np.asarray(arr)
    if a.ndim < 1 or a.ndim > 4:
        raise ValueError(f"NdArray must have 1 to 4 dimensions, got shape {a.shape}")
    name = _wire_dtype(a)
    a = np.ascontiguousarray(a, dtype=np.dtype(_WIRE_DTYPES[name]))  # no-op when already right
    buf = memoryview(a).cast("B") if a.size else b""
    if deflate:
        payload = zlib.compress(buf, level)
        out: JsonDict = {
            "dtype": name,
            "shape": [int(s) for s in a.shape],
            "data": base64.b64encode(payload).decode("ascii"),
            "encoding": "deflate",
        }
    else:
        out = {"dtype": name, "shape": [int(s) for s in a.shape], "data": base64.b64encode(buf).decode("ascii")}
    return out


def decode_ndarray(nd: JsonDict, *, writeable: bool = False) -> np.ndarray:
    """Protocol ``NdArray`` -> NumPy array (native-order view on the decoded bytes; ``writeable`` copies)."""
    dtype = np.dtype(_WIRE_DTYPES[nd["dtype"]])
    raw = base64.b64decode(nd["data"])
    if nd.get("encoding", "raw") == "deflate":
        raw = zlib.decompress(raw)
    shape = tuple(int(s) for s in nd["shape"])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"NdArray data has {len(raw)} bytes, shape {shape} of {nd['dtype']} needs {expected}")
    a = np.frombuffer(raw, dtype=dtype).reshape(shape)
    if not dtype.isnative:
        a = a.astype(dtype.newbyteorder("="))
    elif writeable:
        a = a.copy()
    return a


def signed_to_offset1(labels: np.ndarray, dtype: Any = np.int32) -> np.ndarray:
    """Signed labels (-1 unlabeled, 0 background, k instance) -> offset1 (0 unlabeled, 1 bg, k+1 instance)."""
    a = np.asarray(labels)
    return (a.astype(dtype, copy=True) + 1) if a.dtype != np.dtype(dtype) else a + 1


def offset1_to_signed(labels: np.ndarray) -> np.ndarray:
    """offset1 labels (napari Labels layers) -> signed int32 labels."""
    return np.asarray(labels).astype(np.int32) - 1


# --------------------------------------------------------------------------------------------------------------
# Results with arrays
# --------------------------------------------------------------------------------------------------------------
@dataclass
class Prediction:
    """``model.predict`` result / ``prediction.updated`` event with the labels decoded (int32, 0 = background)."""

    labels: np.ndarray
    polygons: list[P.PolygonRoi]
    model_version: int
    generation: int
    region: list[int]
    z: int | None = None
    image_id: str | None = None
    session_id: str | None = None


@dataclass
class LabelsResult:
    """``labels.get`` result with the labels decoded."""

    labels: np.ndarray
    generation: int
    encoding: str
    counts: P.Counts


def decode_prediction(msg: JsonDict) -> Prediction:
    """A ``ModelPredictResult`` or ``PredictionUpdatedEvent`` -> :class:`Prediction`."""
    return Prediction(
        labels=decode_ndarray(msg["labels"]),
        polygons=list(msg.get("polygons", [])),
        model_version=int(msg["modelVersion"]),
        generation=int(msg["generation"]),
        region=list(msg["region"]),
        z=msg.get("z"),
        image_id=msg.get("imageId"),
        session_id=msg.get("sessionId"),
    )


# --------------------------------------------------------------------------------------------------------------
# Errors and pending calls
# --------------------------------------------------------------------------------------------------------------
class RpcError(Exception):
    """A JSON-RPC error answer: ``code`` (see :class:`ErrorCode`), ``message`` and ``data``.

    For invalid params (-32602) ``data`` is a list of ``{path, message}``.
    """

    def __init__(self, code: int, message: str, data: Any = None, method: str | None = None) -> None:
        self.code = int(code)
        self.message = message
        self.data = data
        self.method = method
        super().__init__(f"[{self.name} {self.code}] {message}" + (f" ({method})" if method else ""))

    @property
    def name(self) -> str:
        try:
            return ErrorCode(self.code).name
        except ValueError:
            return "Error"

    @property
    def issues(self) -> list[JsonDict]:
        """The ``[{path, message}]`` of an invalid-params error (else empty)."""
        return list(self.data) if isinstance(self.data, list) else []

    def __reduce__(self):  # picklable across processes / thread workers
        return (RpcError, (self.code, self.message, self.data, self.method))


class ConnectionClosedError(ConnectionError):
    """The WebSocket closed while a call waited for its answer, or a call was made after close()."""


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
def _opt(d: JsonDict, **kw: Any) -> JsonDict:
    """Add the keyword arguments that are not None."""
    for k, v in kw.items():
        if v is not None:
            d[k] = v
    return d


class Client:
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
        if "error" in m and m["error"] is not None:
            e = m["error"]
            fut.set_exception(RpcError(e.get("code", -32603), e.get("message", ""), e.get("data"), fut.method))
            return
        result = m.get("result")
        if self.validate and fut.method in P.METHODS:
            try:
                parse(P.METHODS[fut.method].result, result)
            except Exception as e:  # noqa: BLE001
                fut.set_exception(e)
                return
        fut.set_result(result)

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

    # ---- typed methods (one per protocol method) -----------------------------------------------------------
    def server_info(self) -> P.ServerInfoResult:
        return self.call(P.M_SERVER_INFO, {})

    def rpc_discover(self) -> JsonDict:
        return self.call(P.M_RPC_DISCOVER, {})

    def session_create(
        self,
        name: str | None = None,
        family: str | None = None,
        *,
        config: JsonDict | None = None,
        auto_background: bool | None = None,
        starter: str | None = None,
    ) -> P.SessionCreateResult:
        """``starter``: begin from a built-in model (``server_info()["starterModels"]``), e.g. ``"nuclei"``."""
        return self.call(
            P.M_SESSION_CREATE,
            _opt({}, name=name, family=family, config=config, autoBackground=auto_background, starter=starter),
        )

    def session_list(self) -> P.SessionListResult:
        return self.call(P.M_SESSION_LIST, {})

    def session_get(self, session_id: str) -> P.SessionInfo:
        return self.call(P.M_SESSION_GET, {"sessionId": session_id})

    def session_close(self, session_id: str, *, delete: bool | None = None) -> P.SessionCloseResult:
        return self.call(P.M_SESSION_CLOSE, _opt({"sessionId": session_id}, delete=delete))

    def session_set_view(
        self, session_id: str, image_id: str, region: list[int], *, z: int | None = None, t: int | None = None
    ) -> P.SessionSetViewResult:
        return self.call(
            P.M_SESSION_SET_VIEW,
            _opt({"sessionId": session_id, "imageId": image_id, "region": [int(v) for v in region]}, z=z, t=t),
        )

    def image_add(
        self,
        session_id: str,
        image: np.ndarray | bytes,
        *,
        axes: str | None = None,
        name: str | None = None,
        deflate: bool = False,
    ) -> P.ImageAddResult:
        """Add an image: a NumPy array (YX, ZYX, TYX or YXC) or the bytes of a TIFF file."""
        if isinstance(image, (bytes, bytearray, memoryview)):
            img: JsonDict = {"tiff": base64.b64encode(image).decode("ascii")}
        else:
            img = encode_ndarray(image, deflate=deflate)
        return self.call(P.M_IMAGE_ADD, _opt({"sessionId": session_id, "image": img}, axes=axes, name=name))

    def labels_update(
        self,
        session_id: str,
        image_id: str,
        labels: np.ndarray,
        *,
        encoding: str = "offset1",
        origin: list[int] | None = None,
        kind: str | None = None,
        deflate: bool = True,
    ) -> P.LabelsUpdateResult:
        """Send a full label layer, or a patch at ``origin`` ([y, x] or [z, y, x]). napari layers: offset1."""
        params = _opt(
            {
                "sessionId": session_id,
                "imageId": image_id,
                "labels": encode_ndarray(labels, deflate=deflate),
                "encoding": encoding,
            },
            kind=kind,
        )
        if origin is not None:
            params["origin"] = [int(v) for v in origin]
        return self.call(P.M_LABELS_UPDATE, params)

    def labels_get(self, session_id: str, image_id: str, *, encoding: str | None = None) -> LabelsResult:
        r = self.call(P.M_LABELS_GET, _opt({"sessionId": session_id, "imageId": image_id}, encoding=encoding))
        return LabelsResult(
            labels=decode_ndarray(r["labels"]), generation=r["generation"], encoding=r["encoding"], counts=r["counts"]
        )

    def model_train(
        self,
        session_id: str,
        *,
        steps: int | None = None,
        family: str | None = None,
        options: P.TrainOptions | None = None,
        config: JsonDict | None = None,
        live: bool | None = None,
        reset: bool | None = None,
        time_limit_s: float | None = None,
        start_from: str | None = None,
    ) -> P.ModelTrainResult:
        """Start training; returns ``{jobId}`` at once. Progress: ``$/progress`` with token = jobId.

        ``start_from``: ``"starter"`` (fine-tune the family's built-in model) or ``"scratch"`` (wire field ``from``).
        """
        p = _opt(
            {"sessionId": session_id},
            steps=steps,
            family=family,
            options=options,
            config=config,
            live=live,
            reset=reset,
            timeLimitS=time_limit_s,
        )
        if start_from is not None:
            p["from"] = start_from
        return self.call(P.M_MODEL_TRAIN, p)

    def model_configure(self, session_id: str, options: P.TrainOptions) -> P.ModelConfigureResult:
        return self.call(P.M_MODEL_CONFIGURE, {"sessionId": session_id, "options": options})

    def _predict_params(
        self,
        session_id: str,
        image_id: str,
        region: list[int] | None,
        z: int | None,
        prob_thresh: float | None,
        nms_thresh: float | None,
        progress_token: str | int | None,
    ) -> JsonDict:
        return _opt(
            {"sessionId": session_id, "imageId": image_id},
            region=None if region is None else [int(v) for v in region],
            z=z,
            probThresh=prob_thresh,
            nmsThresh=nms_thresh,
            progressToken=progress_token,
        )

    def model_predict(
        self,
        session_id: str,
        image_id: str,
        *,
        region: list[int] | None = None,
        z: int | None = None,
        prob_thresh: float | None = None,
        nms_thresh: float | None = None,
        progress_token: str | int | None = None,
        timeout: float | None = None,
    ) -> Prediction:
        r = self.call(
            P.M_MODEL_PREDICT,
            self._predict_params(session_id, image_id, region, z, prob_thresh, nms_thresh, progress_token),
            timeout=timeout,
        )
        return decode_prediction(r)

    def model_predict_async(
        self,
        session_id: str,
        image_id: str,
        *,
        region: list[int] | None = None,
        z: int | None = None,
        prob_thresh: float | None = None,
        nms_thresh: float | None = None,
        progress_token: str | int | None = None,
    ) -> PendingCall:
        """Like :meth:`model_predict` but returns the PendingCall (cancel with ``cancel_request(call.id)``);
        its result is the raw ``ModelPredictResult`` (see :func:`decode_prediction`)."""
        return self.call_async(
            P.M_MODEL_PREDICT,
            self._predict_params(session_id, image_id, region, z, prob_thresh, nms_thresh, progress_token),
        )

    def model_suggest(self, session_id: str, **params: Any) -> P.ModelSuggestResult:
        """What to annotate next: ``params`` are model.suggest's other fields as on the wire (imageId, region, …)."""
        return self.call(P.M_MODEL_SUGGEST, {"sessionId": session_id, **params})

    def model_cancel(self, job_id: str) -> P.ModelCancelResult:
        return self.call(P.M_MODEL_CANCEL, {"jobId": job_id})

    def model_export(self, session_id: str, format: str | None = None, **bioimageio: Any) -> P.ModelExportResult:
        """The model as base64 (``model``); see :meth:`model_export_bytes`.

        ``format="bioimageio"`` gives a bioimage.io model package (zip with ONNX weights) instead of the sparsecell
        archive; ``bioimageio`` may then hold ``name``, ``description``, ``authors`` (list), ``license``, ``imageId``.
        """
        params: dict[str, Any] = {"sessionId": session_id}
        if format is not None:
            params["format"] = format
        params.update({k: v for k, v in bioimageio.items() if v is not None})
        return self.call(P.M_MODEL_EXPORT, params)

    def model_export_bytes(self, session_id: str, format: str | None = None, **bioimageio: Any) -> bytes:
        return base64.b64decode(self.model_export(session_id, format, **bioimageio)["model"])

    def model_import(self, session_id: str, model: bytes | str, format: str | None = None) -> P.ModelImportResult:
        """Load an archive (bytes from :meth:`model_export_bytes`, or its base64 text); ``format="bioimageio"``
        for a bioimage.io package that sparsecell exported."""
        text = model if isinstance(model, str) else base64.b64encode(model).decode("ascii")
        params: dict[str, Any] = {"sessionId": session_id, "model": text}
        if format is not None:
            params["format"] = format
        return self.call(P.M_MODEL_IMPORT, params)
