"""Start a local sparsecell daemon (``sparsecell serve --port 0``) and read the URL it prints."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO

__all__ = ["LocalDaemon", "start_daemon", "sparsecell_executable"]

_LISTENING = re.compile(r"listening on (wss?://\S+)")


def sparsecell_executable() -> str | None:
    """Path of ``sparsecell`` on PATH, or None."""
    return shutil.which("sparsecell")


@dataclass
class LocalDaemon:
    process: subprocess.Popen
    url: str
    log_path: str
    _log: IO[bytes] | None = field(default=None, repr=False)

    def __enter__(self) -> LocalDaemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None


def start_daemon(
    command: Sequence[str] | None = None,
    *,
    home: str | None = None,
    port: int = 0,
    timeout: float = 60.0,
    cwd: str | None = None,
    env: dict | None = None,
    extra_args: Sequence[str] = (),
) -> LocalDaemon:
    """Spawn ``command`` (default ``sparsecell``) with ``serve --port PORT --home HOME``; wait for its URL.

    The daemon's log (stderr) goes to a file (``LocalDaemon.log_path``) so a full pipe never blocks it.
    """
    if command is None:
        exe = sparsecell_executable()
        if exe is None:
            raise FileNotFoundError("sparsecell is not on PATH")
        command = [exe]
    args = list(command) + ["serve", "--port", str(port)]
    if home is not None:
        args += ["--home", home]
    args += list(extra_args)
    fd, log_path = tempfile.mkstemp(prefix="sparsecell-daemon-", suffix=".log")
    os.close(fd)
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, cwd=cwd, env=env, bufsize=0
    )
    found: list[str] = []
    ready = threading.Event()

    def pump() -> None:  # read stdout for the URL, then keep draining it
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace")
            m = _LISTENING.search(line)
            if m and not found:
                found.append(m.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=pump, name="sparsecell-daemon-stdout", daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.1):
        if time.monotonic() > deadline:
            break
    if not found:
        proc.kill()
        proc.wait()
        log.close()
        with open(log_path, "rb") as f:
            tail = f.read()[-2000:].decode("utf-8", "replace")
        raise RuntimeError(f"sparsecell daemon did not start ({' '.join(args)}): {tail}")
    return LocalDaemon(process=proc, url=found[0], log_path=log_path, _log=log)
