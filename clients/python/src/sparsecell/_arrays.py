"""NumPy <-> protocol ``NdArray``, the two label conventions, and results that carry arrays."""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _protocol as P

__all__ = [
    "Prediction",
    "LabelsResult",
    "encode_ndarray",
    "decode_ndarray",
    "signed_to_offset1",
    "offset1_to_signed",
    "decode_prediction",
    "decode_labels",
]

JsonDict = dict[str, Any]

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
    truncated: bool = False  # more objects were found than ``max_objects``: the best-scoring ones are kept


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
        truncated=bool(msg.get("truncated", False)),
    )


def decode_labels(msg: JsonDict) -> LabelsResult:
    """A ``LabelsGetResult`` -> :class:`LabelsResult` (labels decoded)."""
    return LabelsResult(
        labels=decode_ndarray(msg["labels"]),
        generation=msg["generation"],
        encoding=msg["encoding"],
        counts=msg["counts"],
    )
