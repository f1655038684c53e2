"""This package's README examples, run as a reader would (a script in a fresh process), against a real daemon."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from sparsecell import Prediction

README = Path(__file__).resolve().parents[1] / "README.md"
URL = "ws://127.0.0.1:7420"


def examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 2, "the notebook session and the asyncio example"
    assert all(URL in b for b in blocks)
    return blocks


def test_notebook_session_runs(daemon, tmp_path):
    script = tmp_path / "notebook.py"
    script.write_text(examples()[0].replace(URL, daemon), encoding="utf-8")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    r = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env
    )
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    update = ast.literal_eval(lines[0])
    assert update["generation"] == 1 and update["counts"]["objects"] == 3 and update["counts"]["background"] > 0
    assert re.search(r"30/30 \[", r.stderr), r.stderr[-2000:]  # the tqdm bar reached the last step
    found, true = map(int, re.fullmatch(r"(\d+) nuclei found, (\d+) in the image", lines[-1]).groups())
    assert true == 40 and 0.75 * true <= found <= 1.25 * true, lines[-1]
    assert (tmp_path / "prediction.png").stat().st_size > 10_000


def test_asyncio_example_runs(daemon, nuclei):
    img, inst = nuclei
    sparse = np.where(inst[:, :32] > 0, inst[:, :32] + 1, 1).astype(np.uint16)
    sparse = np.pad(sparse, ((0, 0), (0, 32)))  # left half labeled, right half unlabeled
    ns: dict = {}
    exec(compile(examples()[1].replace(URL, daemon), "README asyncio example", "exec"), ns)
    pred = asyncio.run(ns["main"](img, sparse))
    assert isinstance(pred, Prediction) and pred.labels.shape == img.shape and pred.labels.max() >= 1
