"""The bioimage.io packages sparsecell writes, checked by the official tools from PyPI.

The packages come from ``node dist/scripts/bioimageio-packages.js DIR`` (one tiny trained model per family);
``scripts/bioimageio-ci.sh`` makes them and points ``SPARSECELL_BIOIMAGEIO_PACKAGES`` at DIR.
"""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

PACKAGES = Path(os.environ.get("SPARSECELL_BIOIMAGEIO_PACKAGES", ""))
FAMILIES = ["stardist", "cellpose", "elephant"]
# one package per family, StarDist with grid 2 (output at half the input's resolution: output axes scale 2), and
# StarDist adapted to dark objects on a bright background (its preprocessing inverts after the percentiles)
PACKAGE_NAMES = [*FAMILIES, "stardist-grid2", "stardist-dark"]


def package(family: str) -> Path:
    p = PACKAGES / f"{family}.zip"
    assert p.is_file(), f"{p} missing: run scripts/bioimageio-ci.sh"
    return p


def errors(summary) -> list[str]:
    return [f"{d.name}: {e.loc} {e.msg}" for d in summary.details for e in d.errors]


@pytest.mark.parametrize("name", PACKAGE_NAMES)
def test_spec_validates(name: str) -> None:
    from bioimageio.spec import load_description
    from bioimageio.spec.model.v0_5 import ModelDescr

    family = name.split("-")[0]
    grid = 2 if name.endswith("grid2") else 1
    d = load_description(package(name), perform_io_checks=True)
    s = d.validation_summary
    assert errors(s) == []
    assert s.status in ("valid-format", "passed"), s.status
    assert isinstance(d, ModelDescr)
    assert d.weights.onnx is not None and d.weights.onnx.opset_version >= 13
    cfg = d.config.model_dump()
    assert cfg["sparsecell"]["family"] == family
    if family == "stardist":
        assert cfg["stardist"]["n_rays"] == 16 and cfg["stardist"]["grid"] == [grid, grid]
    pre = [p.id for p in d.inputs[0].preprocessing]
    if name.endswith("dark"):
        # after the percentiles (bioimageio.spec may append its own ensure_dtype)
        assert "scale_linear" in pre and pre.index("scale_linear") > pre.index("scale_range"), pre
        assert cfg["sparsecell"]["normalization"]["invert"] is True
        kw = d.inputs[0].preprocessing[pre.index("scale_linear")].kwargs
        assert (float(kw.gain), float(kw.offset)) == (-1.0, 1.0)
    else:
        assert "scale_linear" not in pre
    out_axes = {a.id: a for a in d.outputs[0].axes}
    assert (out_axes["y"].scale, out_axes["x"].scale) == (grid, grid)
    # the declared output size is the input's divided by the grid, as the test tensors are
    tin = np.load(io.BytesIO(zipfile.ZipFile(package(name)).read("test_input.npy")))
    tout = np.load(io.BytesIO(zipfile.ZipFile(package(name)).read("test_output.npy")))
    assert tout.shape[2:] == (tin.shape[2] // grid, tin.shape[3] // grid)


@pytest.mark.parametrize("name", PACKAGE_NAMES)
def test_core_model_test_passes_on_onnx(name: str) -> None:
    core = pytest.importorskip("bioimageio.core")
    s = core.test_model(package(name), weight_format="onnx")
    assert errors(s) == []
    assert s.status == "passed", s.status


def test_core_model_test_catches_a_wrong_test_output(tmp_path: Path) -> None:
    """The check above can fail: a package whose test output is off by 1 % (hash updated) is rejected."""
    core = pytest.importorskip("bioimageio.core")
    src = zipfile.ZipFile(package("elephant"))
    good = src.read("test_output.npy")
    buf = io.BytesIO()
    np.save(buf, (np.load(io.BytesIO(good)) * 1.01).astype(np.float32))
    wrong = buf.getvalue()
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "test_output.npy":
                data = wrong
            elif info.filename == "rdf.yaml":
                data = data.replace(hashlib.sha256(good).hexdigest().encode(), hashlib.sha256(wrong).hexdigest().encode())
            out.writestr(info.filename, data)
    s = core.test_model(bad, weight_format="onnx")
    assert s.status != "passed"
    assert any("reproduce" in d.name.lower() or "test output" in str(e.msg).lower() for d in s.details for e in d.errors), errors(s)
