"""The README's Python examples, run as an outsider would: a plain script with websocket-client and numpy only
(not this plugin), against a real daemon."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"
README_URL = "ws://127.0.0.1:7420"


def readme_python() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2, "README has the session example and the training example"
    return "\n".join(blocks)


def test_readme_python_examples_run_against_a_real_daemon(daemon, tmp_path):
    code = readme_python()
    assert README_URL in code
    script = tmp_path / "readme_example.py"
    script.write_text(code.replace(README_URL, daemon), encoding="utf-8")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    # labels.update's answer: generation and whole-layer counts (20 rows of background, one 10 x 12 object)
    update = ast.literal_eval(lines[0])
    assert update == {
        "generation": 1,
        "counts": {"unlabeled": 256 * 256 - 20 * 256 - 120, "background": 20 * 256, "objects": 1},
    }
    reports = [ln for ln in lines if re.fullmatch(r"\d+ %, loss \d+\.\d+", ln)]
    assert reports and reports[-1].startswith("100 %"), lines
    assert "training done" in lines
    summary = next(ln for ln in lines if "polygons;" in ln)
    assert summary.endswith("object 1 has 120 pixels"), summary  # labels.get decoded as the README says
    assert ast.literal_eval(lines[-1]) == {"closed": True, "deleted": False}
