"""The asyncio client: the same typed methods as :class:`~sparsecell.Client`, as coroutines.

It runs over the synchronous client's connection (one reader thread; answers resolve ``asyncio`` futures on the
loop that connected), so both share one transport and one set of typed methods::

    async with await AsyncClient.connect("ws://127.0.0.1:7420") as c:
        async with c.session(name="demo", starter="nuclei") as s:
            iid = await s.add_image(image)
            pred = await s.predict(iid)

Cancelling a task that awaits a call sends ``$/cancelRequest`` for it, so the daemon stops the work too.
Callbacks given to ``on_progress`` / ``on_event`` / ``on_prediction`` run on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from ._arrays import Prediction, decode_prediction
from ._client import Client
from ._methods import TypedMethods, check_end
from ._progress import TrainBar
from ._session import Session
from .errors import ConnectionClosedError

__all__ = ["AsyncClient"]

JsonDict = dict[str, Any]


class AsyncClient(TypedMethods):
    """An asyncio connection to a sparsecell daemon; make one with ``await AsyncClient.connect(url)``."""

    def __init__(self, client: Client, loop: asyncio.AbstractEventLoop) -> None:
        self.sync = client
        self._loop = loop

    @classmethod
    async def connect(cls, url: str, token: str | None = None, **kw: Any) -> AsyncClient:
        """Open a connection (arguments as :meth:`Client.connect`: ``timeout``, ``default_timeout``, ``validate``)."""
        loop = asyncio.get_running_loop()
        client = await loop.run_in_executor(None, lambda: Client.connect(url, token, **kw))
        return cls(client, loop)

    @property
    def url(self) -> str:
        return self.sync.url

    @property
    def closed(self) -> bool:
        return self.sync.closed

    async def close(self) -> None:
        await self._loop.run_in_executor(None, self.sync.close)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ---- calls -------------------------------------------------------------------------------------------------
    async def call(self, method: str, params: JsonDict | None = None, *, timeout: float | None = None) -> Any:
        """Send a request and await its result; :class:`~sparsecell.RpcError` on an error answer."""
        pending = self.sync.call_async(method, params)
        t = self.sync.default_timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(asyncio.wrap_future(pending, loop=self._loop), t)
        except asyncio.CancelledError:
            if not self.sync.closed:
                self.sync.cancel_request(pending.id)
            raise
        except asyncio.TimeoutError:
            raise TimeoutError(f"{method}: no answer within {t} s") from None

    def _invoke(
        self, method: str, params: JsonDict, finish: Callable[[Any], Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        async def run() -> Any:
            result = await self.call(method, params, timeout=timeout)
            return result if finish is None else finish(result)

        return run()

    def _then(self, value: Any, fn: Callable[[Any], Any]) -> Any:
        async def run() -> Any:
            return fn(await value)

        return run()

    # ---- notifications -------------------------------------------------------------------------------------------
    def _on_loop(self, cb: Callable[[Any], None]) -> Callable[[Any], None]:
        def relay(value: Any) -> None:
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(cb, value)

        return relay

    def on_progress(self, cb: Callable[[JsonDict], None]) -> Callable[[], None]:
        """Call ``cb(params)`` on the loop for every ``$/progress``; returns an unsubscribe function."""
        return self.sync.on_progress(self._on_loop(cb))

    def on_event(self, cb: Callable[[JsonDict], None]) -> Callable[[], None]:
        return self.sync.on_event(self._on_loop(cb))

    def on_prediction(self, cb: Callable[[Prediction], None]) -> Callable[[], None]:
        return self.on_event(lambda ev: cb(decode_prediction(ev)) if ev.get("type") == "prediction.updated" else None)

    async def progress(self, token: Any) -> AsyncIterator[JsonDict]:
        """The ``$/progress`` notifications of ``token`` (a job id) as they come, ending with its ``end``."""
        queue: asyncio.Queue[JsonDict | None] = asyncio.Queue()
        off = self.on_progress(lambda p: queue.put_nowait(p) if p.get("token") == token else None)
        off_close = self.sync.on_close(self._on_loop(lambda _reason: queue.put_nowait(None)))
        try:
            last = self.sync.last_progress(token)
            if last is not None and last.get("kind") == "end":
                yield last
                return
            while True:
                if self.sync.closed:
                    raise ConnectionClosedError(f"waiting for {token}: {self.sync.close_reason}")
                p = await queue.get()
                if p is None:
                    continue
                yield p
                if p.get("kind") == "end":
                    return
        finally:
            off()
            off_close()

    async def wait_for_progress_end(self, token: Any, timeout: float | None = 300.0) -> JsonDict:
        """Await the ``$/progress`` ``end`` of ``token`` (also when it came before this call)."""

        async def last() -> JsonDict:
            async for p in self.progress(token):
                if p.get("kind") == "end":
                    return p
            raise ConnectionClosedError(f"waiting for {token}: {self.sync.close_reason}")

        try:
            return await asyncio.wait_for(last(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no $/progress end for {token!r} within {timeout} s") from None

    async def train(
        self,
        session_id: str,
        *,
        progress: bool | dict[str, Any] = True,
        timeout: float | None = None,
        **train_args: Any,
    ) -> JsonDict:
        """``model.train`` and await its end with a tqdm bar (see :meth:`Client.train`). Cancelling the task
        cancels the job (``model.cancel``)."""
        bar = TrainBar(progress)
        off = self.on_progress(bar.feed)
        job = None
        try:
            job = (await self.model_train(session_id, **train_args))["jobId"]
            bar.watch(job, self.sync.last_progress(job))
            end = await self.wait_for_progress_end(job, timeout=timeout)
        except asyncio.CancelledError:
            if job is not None and not self.sync.closed:
                self.sync.call_async("model.cancel", {"jobId": job})
            raise
        finally:
            off()
            bar.close()
        return check_end(end)

    def session(
        self, name: str | None = None, family: str | None = None, *, delete: bool = False, **create_args: Any
    ) -> Session:
        """A :class:`Session`, created on ``async with`` or ``await`` (``session_id=`` reopens a stored one)."""
        return Session(self, dict(name=name, family=family, **create_args), delete=delete)
