"""The typed methods, one per protocol method, shared by the synchronous and the asyncio client.

Each method builds the wire params (NumPy arrays encoded, snake_case arguments to the protocol's camelCase fields)
and hands them to ``self._invoke(method, params, finish)``: :class:`~sparsecell.Client` answers with the result,
:class:`~sparsecell.AsyncClient` with an awaitable of it. ``finish`` turns a wire result into its NumPy form
(``model.predict`` -> :class:`Prediction`, ``labels.get`` -> :class:`LabelsResult`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _protocol as P
from ._arrays import LabelsResult, Prediction, decode_labels, decode_prediction, encode_ndarray

JsonDict = dict[str, Any]


def _opt(d: JsonDict, **kw: Any) -> JsonDict:
    """Add the keyword arguments that are not None."""
    for k, v in kw.items():
        if v is not None:
            d[k] = v
    return d


class TrainingFailed(RuntimeError):
    """A training job ended with ``state: "failed"``; ``end`` is its last ``$/progress`` (``end["error"]``: why)."""

    def __init__(self, end: JsonDict) -> None:
        self.end = end
        super().__init__(f"training {end.get('token')} failed: {end.get('error', 'no reason given')}")


def check_end(end: JsonDict) -> JsonDict:
    """The ``end`` progress of a training, or :class:`TrainingFailed` when it failed."""
    if end.get("state") == "failed":
        raise TrainingFailed(end)
    return end


class TypedMethods:
    """Typed protocol methods over ``_invoke`` (see the module docstring)."""

    def _invoke(self, method: str, params: JsonDict, finish: Callable[[Any], Any] | None = None, **kw: Any) -> Any:
        raise NotImplementedError

    def _then(self, value: Any, fn: Callable[[Any], Any]) -> Any:
        """``fn(value)``, for a value that a typed method returned (the asyncio client: after awaiting it)."""
        raise NotImplementedError

    # ---- one method per protocol method ----------------------------------------------------------------------
    def server_info(self) -> P.ServerInfoResult:
        return self._invoke(P.M_SERVER_INFO, {})

    def rpc_discover(self) -> JsonDict:
        return self._invoke(P.M_RPC_DISCOVER, {})

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
        return self._invoke(
            P.M_SESSION_CREATE,
            _opt({}, name=name, family=family, config=config, autoBackground=auto_background, starter=starter),
        )

    def session_list(self) -> P.SessionListResult:
        return self._invoke(P.M_SESSION_LIST, {})

    def session_get(self, session_id: str) -> P.SessionInfo:
        return self._invoke(P.M_SESSION_GET, {"sessionId": session_id})

    def session_close(self, session_id: str, *, delete: bool | None = None) -> P.SessionCloseResult:
        return self._invoke(P.M_SESSION_CLOSE, _opt({"sessionId": session_id}, delete=delete))

    def session_set_view(
        self, session_id: str, image_id: str, region: list[int], *, z: int | None = None, t: int | None = None
    ) -> P.SessionSetViewResult:
        return self._invoke(
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
        return self._invoke(P.M_IMAGE_ADD, _opt({"sessionId": session_id, "image": img}, axes=axes, name=name))

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
        return self._invoke(P.M_LABELS_UPDATE, params)

    def labels_get(self, session_id: str, image_id: str, *, encoding: str | None = None) -> LabelsResult:
        return self._invoke(
            P.M_LABELS_GET, _opt({"sessionId": session_id, "imageId": image_id}, encoding=encoding), decode_labels
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
        resume: bool | None = None,
    ) -> P.ModelTrainResult:
        """Start training; returns ``{jobId}`` at once. Progress: ``$/progress`` with token = jobId.

        ``start_from``: ``"starter"`` (fine-tune the family's built-in model) or ``"scratch"`` (wire field ``from``).
        ``resume=True`` continues an interrupted job from its last checkpoint.
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
            resume=resume,
        )
        if start_from is not None:
            p["from"] = start_from
        return self._invoke(P.M_MODEL_TRAIN, p)

    def model_configure(self, session_id: str, options: P.TrainOptions) -> P.ModelConfigureResult:
        return self._invoke(P.M_MODEL_CONFIGURE, {"sessionId": session_id, "options": options})

    def _predict_params(
        self,
        session_id: str,
        image_id: str,
        *,
        region: list[int] | None = None,
        z: int | None = None,
        prob_thresh: float | None = None,
        nms_thresh: float | None = None,
        progress_token: str | int | None = None,
        max_objects: int | None = None,
    ) -> JsonDict:
        return _opt(
            {"sessionId": session_id, "imageId": image_id},
            region=None if region is None else [int(v) for v in region],
            z=z,
            probThresh=prob_thresh,
            nmsThresh=nms_thresh,
            progressToken=progress_token,
            maxObjects=max_objects,
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
        max_objects: int | None = None,
        timeout: float | None = None,
    ) -> Prediction:
        return self._invoke(
            P.M_MODEL_PREDICT,
            self._predict_params(
                session_id,
                image_id,
                region=region,
                z=z,
                prob_thresh=prob_thresh,
                nms_thresh=nms_thresh,
                progress_token=progress_token,
                max_objects=max_objects,
            ),
            decode_prediction,
            timeout=timeout,
        )

    def model_cancel(self, job_id: str) -> P.ModelCancelResult:
        return self._invoke(P.M_MODEL_CANCEL, {"jobId": job_id})

    def model_export(self, session_id: str, format: str | None = None, **bioimageio: Any) -> P.ModelExportResult:
        """The model as base64 (``model``); see :meth:`model_export_bytes`.

        ``format="bioimageio"`` gives a bioimage.io model package (zip with ONNX weights) instead of the sparsecell
        archive; ``bioimageio`` may then hold ``name``, ``description``, ``authors`` (list), ``license``, ``imageId``.
        """
        return self._invoke(P.M_MODEL_EXPORT, self._export_params(session_id, format, bioimageio))

    @staticmethod
    def _export_params(session_id: str, format: str | None, bioimageio: dict[str, Any]) -> JsonDict:
        params: JsonDict = {"sessionId": session_id}
        if format is not None:
            params["format"] = format
        params.update({k: v for k, v in bioimageio.items() if v is not None})
        return params

    def model_export_bytes(self, session_id: str, format: str | None = None, **bioimageio: Any) -> bytes:
        params = self._export_params(session_id, format, bioimageio)
        return self._invoke(P.M_MODEL_EXPORT, params, lambda r: base64.b64decode(r["model"]))

    def model_import(self, session_id: str, model: bytes | str, format: str | None = None) -> P.ModelImportResult:
        """Load an archive (bytes from :meth:`model_export_bytes`, or its base64 text); ``format="bioimageio"``
        for a bioimage.io package that sparsecell exported."""
        text = model if isinstance(model, str) else base64.b64encode(model).decode("ascii")
        params: dict[str, Any] = {"sessionId": session_id, "model": text}
        if format is not None:
            params["format"] = format
        return self._invoke(P.M_MODEL_IMPORT, params)
