"""sparsecell: the Python client of the sparsecell daemon (JSON-RPC 2.0 over WebSocket), NumPy in and out.

::

    import sparsecell
    with sparsecell.Client.connect("ws://127.0.0.1:7420") as c, c.session(starter="nuclei") as s:
        iid = s.add_image(image)                       # YX / ZYX / TYX / YXC array, or TIFF bytes
        s.update_labels(iid, sparse)                   # offset-1: 0 unlabeled, 1 background, k+1 object k
        s.train(steps=200)                             # tqdm progress bar; returns the last $/progress
        pred = s.predict(iid)                          # pred.labels (int32 array), pred.polygons

``AsyncClient`` has the same methods as coroutines. Error answers raise :class:`RpcError` subclasses named after
the protocol's codes (:mod:`sparsecell.errors`). The protocol types (TypedDicts) are in ``sparsecell.protocol``.
"""

from . import _protocol as protocol
from . import errors
from ._aio import AsyncClient
from ._arrays import (
    LabelsResult,
    Prediction,
    decode_labels,
    decode_ndarray,
    decode_prediction,
    encode_ndarray,
    offset1_to_signed,
    signed_to_offset1,
)
from ._client import Client, PendingCall
from ._daemon import LocalDaemon, sparsecell_executable, start_daemon
from ._methods import TrainingFailed
from ._sample import synthetic_nuclei
from ._session import Session
from .errors import ConnectionClosedError, ErrorCode, RpcError

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "AsyncClient",
    "Client",
    "ConnectionClosedError",
    "ErrorCode",
    "LabelsResult",
    "LocalDaemon",
    "PendingCall",
    "Prediction",
    "RpcError",
    "Session",
    "TrainingFailed",
    "decode_labels",
    "decode_ndarray",
    "decode_prediction",
    "encode_ndarray",
    "errors",
    "offset1_to_signed",
    "protocol",
    "signed_to_offset1",
    "sparsecell_executable",
    "start_daemon",
    "synthetic_nuclei",
]
