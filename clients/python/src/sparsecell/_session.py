"""A session as a context manager: ``with client.session(...) as s`` (``async with`` for the asyncio client)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import LabelsResult, Prediction

JsonDict = dict[str, Any]


class Session:
    """A sparsecell session bound to one client: the session's methods without repeating its id.

    Leaving the ``with`` / ``async with`` block sends ``session.close`` (``delete=True`` given to
    ``client.session``: also removes it from the daemon's store). Each method returns what the client's method
    returns: a value for :class:`~sparsecell.Client`, an awaitable for :class:`~sparsecell.AsyncClient`.
    """

    def __init__(self, client: Any, create_args: JsonDict, *, delete: bool = False) -> None:
        self.client = client
        self.id: str | None = create_args.pop("session_id", None)
        self._create_args = {k: v for k, v in create_args.items() if v is not None}
        self.delete = delete
        self.closed = False

    def __repr__(self) -> str:
        return f"Session({self.id!r})"

    def add_image(self, image: np.ndarray | bytes, **kw: Any) -> Any:
        """``image.add``; returns the new ``imageId``. ``kw``: ``axes``, ``name``, ``deflate``."""
        return self.client._then(self.client.image_add(self.id, image, **kw), lambda r: r["imageId"])

    def update_labels(self, image_id: str, labels: np.ndarray, **kw: Any) -> Any:
        """``labels.update`` (offset-1 by default; ``encoding="signed"`` for -1/0/k); ``origin=[y, x]`` for a patch."""
        return self.client.labels_update(self.id, image_id, labels, **kw)

    def labels(self, image_id: str, *, encoding: str | None = None) -> LabelsResult | Any:
        return self.client.labels_get(self.id, image_id, encoding=encoding)

    def train(self, **kw: Any) -> JsonDict | Any:
        """Train and wait, with a progress bar (``client.train``)."""
        return self.client.train(self.id, **kw)

    def predict(self, image_id: str, **kw: Any) -> Prediction | Any:
        return self.client.model_predict(self.id, image_id, **kw)

    def info(self) -> JsonDict | Any:
        return self.client.session_get(self.id)

    def export_model(self, format: str | None = None, **kw: Any) -> bytes | Any:
        return self.client.model_export_bytes(self.id, format, **kw)

    def import_model(self, model: bytes | str, format: str | None = None) -> JsonDict | Any:
        return self.client.model_import(self.id, model, format)

    def close(self, *, delete: bool | None = None) -> JsonDict | Any:
        self.closed = True
        return self.client.session_close(self.id, delete=self.delete if delete is None else delete)

    # ---- with / async with ---------------------------------------------------------------------------------
    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.closed and not self.client.closed:
            self.close()

    async def _open(self) -> Session:
        if self.id is None:
            self.id = (await self.client.session_create(**self._create_args))["sessionId"]
        else:
            await self.client.session_get(self.id)
        return self

    def __await__(self):
        return self._open().__await__()

    async def __aenter__(self) -> Session:
        return await self._open()

    async def __aexit__(self, *exc: Any) -> None:
        if not self.closed and not self.client.closed:
            await self.close()
