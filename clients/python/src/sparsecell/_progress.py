"""A tqdm progress bar fed by a training job's ``$/progress`` notifications."""

from __future__ import annotations

import threading
from typing import Any

JsonDict = dict[str, Any]


class TrainBar:
    """One bar per training job: steps when the job has a step count, else percent of its time budget.

    ``feed`` may be called from the client's reader thread (or the asyncio loop) before ``watch`` names the job:
    reports of other tokens are ignored, and the bar starts with the newest report already seen.
    """

    def __init__(self, progress: bool | dict[str, Any]) -> None:
        self._opts = dict(progress) if isinstance(progress, dict) else {} if progress else None
        self._lock = threading.Lock()
        self._token: Any = None
        self._early: dict[Any, JsonDict] = {}
        self.bar: Any = None
        self.reports = 0

    def watch(self, token: Any, last: JsonDict | None = None) -> None:
        with self._lock:
            self._token = token
            early = self._early.pop(token, None) or last
            self._early.clear()
        if early is not None:
            self.feed(early)

    def feed(self, p: JsonDict) -> None:
        with self._lock:
            if self._token is None:
                self._early[p.get("token")] = p
                return
            if p.get("token") != self._token or self._opts is None or p.get("kind") == "begin":
                return
            self.reports += 1
            self._draw(p)

    def _draw(self, p: JsonDict) -> None:
        steps, step = p.get("steps"), p.get("step")
        by_steps = isinstance(steps, int) and steps > 0 and isinstance(step, int)
        if self.bar is None:
            from tqdm.auto import tqdm

            opts = {"desc": "training", "unit": "step" if by_steps else "%", **self._opts}
            self.bar = tqdm(total=steps if by_steps else 100, **opts)
        n = step if by_steps else round(float(p.get("percentage") or 0), 1)
        if p.get("kind") == "end" and p.get("state") == "done":
            n = self.bar.total
        self.bar.n = n
        if p.get("loss") is not None:
            self.bar.set_postfix(loss=f"{p['loss']:.4f}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        with self._lock:
            if self.bar is not None:
                self.bar.close()
