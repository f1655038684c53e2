"""The artifacts people install, tested as installed (run by scripts/artifacts-ci.sh, the `artifacts` suite):

* ``npm pack`` -> ``npm install -g --prefix <tmp> <tarball>`` -> the installed ``sparsecell serve --port 0`` answers
  ``server.info`` (and predicts with its starter model);
* ``python -m build`` -> wheels of the Python client (``sparsecell-client``) and the napari plugin, installed into
  fresh virtual environments, import and connect to that installed daemon.

Needs network access to the npm registry and PyPI (dependencies of the tarball and the wheels).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import venv
from pathlib import Path

import pytest
from sparsecell import Client, start_daemon, synthetic_nuclei

REPO = Path(__file__).resolve().parents[2]
NPM = shutil.which("npm")
MAX_TARBALL_BYTES = 20 * 1024 * 1024  # the three starter models are ~6 MB; a packed test tree or venv would not fit


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, **kw)
    assert r.returncode == 0, (
        f"{' '.join(map(str, cmd))} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    )
    return r


# ---- npm ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    if NPM is None:
        pytest.fail("npm is not on PATH")
    out = tmp_path_factory.mktemp("pack")
    r = run([NPM, "pack", "--json", "--pack-destination", str(out)], cwd=REPO, timeout=300)
    name = json.loads(r.stdout)[0]["filename"]
    return out / name


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory) -> Path:
    """``npm install -g --prefix`` of the tarball; returns the installed ``sparsecell`` executable."""
    prefix = tmp_path_factory.mktemp("prefix")
    env = {**os.environ, "npm_config_audit": "false", "npm_config_fund": "false"}
    r = run(
        [NPM, "install", "-g", "--prefix", str(prefix), str(tarball)],
        cwd=tarball.parent,
        env=env,
        timeout=900,
    )
    exe = prefix / "bin" / "sparsecell"
    assert exe.exists(), r.stdout + r.stderr
    return exe


@pytest.fixture(scope="module")
def installed_daemon(installed, tmp_path_factory):
    """The installed daemon on port 0, started from a directory outside the checkout."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARSECELL_")}
    d = start_daemon([str(installed)], home=str(cwd / "home"), cwd=str(cwd), env=env, timeout=120)
    try:
        yield d
    finally:
        d.stop()


def test_tarball_holds_the_runtime_and_nothing_huge(tarball):
    assert 0 < tarball.stat().st_size < MAX_TARBALL_BYTES, tarball.stat().st_size
    with tarfile.open(tarball) as t:
        names = {n.removeprefix("package/") for n in t.getnames()}
    for needed in (
        "package.json",
        "dist/server/main.js",
        "dist/protocol/src/methods.js",
        "protocol/openrpc.json",
        "models/nuclei-stardist.scm",
        "models/nuclei-stardist.json",
        "scripts/postinstall.mjs",
        "scripts/setup-native.mjs",
    ):
        assert needed in names, f"{needed} is missing from the tarball"
    leaked = [
        n
        for n in names
        if n.startswith(
            (
                "dist/test/",
                "dist/bench/",
                "bench/",
                "test/",
                "clients/",
                "node_modules/",
            )
        )
    ]
    assert not leaked, leaked[:10]
    assert not [n for n in names if n.endswith(".tsbuildinfo") or "/.venv" in n]


def test_installed_daemon_serves(installed_daemon):
    with Client.connect(installed_daemon.url, validate=True) as c:
        deadline = time.monotonic() + 120
        while (info := c.server_info())["backend"]["name"] == "none" and time.monotonic() < deadline:
            time.sleep(0.5)  # the compute workers are still loading their backend
        pkg = json.loads((REPO / "package.json").read_text())
        assert info["name"] == "sparsecell" and info["version"] == pkg["version"]
        # the global install skips the native build: the daemon trains on wasm (or tensorflow where it was built)
        assert info["backend"]["name"] in ("wasm", "tensorflow")
        assert "nuclei" in {m["name"] for m in info["starterModels"]}
        img, _ = synthetic_nuclei((96, 96), n=8, seed=3)
        with c.session(name="installed", starter="nuclei", delete=True) as s:
            pred = s.predict(s.add_image(img))  # the packed starter model loads (sha256 checked) and predicts
        assert pred.labels.shape == img.shape and pred.labels.max() >= 1 and pred.polygons


# ---- Python wheels -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    src = tmp_path_factory.mktemp("sources")
    skip = shutil.ignore_patterns(".venv", "build", "*.egg-info", "__pycache__", ".ruff_cache", "tests", "docs")
    for pkg in ("python", "napari"):  # built from copies: setuptools writes build/ and *.egg-info beside the sources
        shutil.copytree(REPO / "clients" / pkg, src / pkg, ignore=skip)
        run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(src / pkg)], timeout=600)
    return out


def fresh_venv(path: Path, system_site_packages: bool = False) -> Path:
    venv.EnvBuilder(with_pip=True, system_site_packages=system_site_packages, clear=True).create(path)
    return path / "bin" / "python"


def pip_install(py: Path, wheels: Path, *names: str) -> None:
    """Install the built wheels of ``names`` (also over an installed copy of the same version, e.g. an editable one
    the venv sees through the system's site-packages), then whatever they require that the venv lacks."""
    pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    files = [str(next(wheels.glob(f"{n.replace('-', '_')}-*.whl"))) for n in names]
    run([*pip, "--no-deps", "--force-reinstall", *files], timeout=900)
    run([*pip, "--find-links", str(wheels), *names], timeout=900)


def test_wheels_are_built(wheels):
    names = sorted(p.name for p in wheels.glob("*.whl"))
    assert [n.split("-")[0] for n in names] == [
        "sparsecell_client",
        "sparsecell_napari",
    ], names


def test_client_wheel_in_a_fresh_venv_connects(wheels, installed_daemon, tmp_path):
    py = fresh_venv(tmp_path / "venv")
    pip_install(py, wheels, "sparsecell-client")
    code = f"""
import sys, numpy as np, sparsecell, sparsecell.errors
assert sparsecell.__file__.startswith(sys.prefix), sparsecell.__file__  # the wheel in this venv
with sparsecell.Client.connect({installed_daemon.url!r}) as c, c.session(name="wheel", delete=True) as s:
    info = c.server_info()
    iid = s.add_image(np.zeros((32, 32), np.uint8))
    r = s.update_labels(iid, np.ones((32, 32), np.uint16))
    try:
        c.session_get("nope")
    except sparsecell.errors.SessionNotFoundError as e:
        err = e.name
print(info["name"], r["counts"]["background"], err)
"""
    r = run([str(py), "-c", code], cwd=tmp_path, timeout=120)
    assert r.stdout.split() == ["sparsecell", "1024", "SessionNotFound"], r.stdout


def test_napari_wheel_in_a_fresh_venv_imports_and_connects(wheels, installed_daemon, tmp_path):
    # napari and Qt are big: the venv sees the system's (as a napari user's environment has napari already)
    py = fresh_venv(tmp_path / "venv", system_site_packages=True)
    pip_install(py, wheels, "sparsecell-client", "sparsecell-napari")
    code = f"""
import sys, importlib.metadata as md, sparsecell, sparsecell_napari
from sparsecell_napari.client import Client
from sparsecell_napari import _widget
eps = [e for e in md.entry_points(group="napari.manifest") if e.name == "sparsecell-napari"]
assert eps and eps[0].value == "sparsecell_napari:napari.yaml", eps
from npe2 import PluginManifest
manifest = PluginManifest.from_distribution("sparsecell-napari")
assert {{c.id for c in manifest.contributions.commands}} >= {{"sparsecell-napari.make_widget"}}
assert sparsecell.__file__.startswith(sys.prefix) and sparsecell_napari.__file__.startswith(sys.prefix)
with Client.connect({installed_daemon.url!r}) as c:
    print(c.server_info()["name"], _widget.SparsecellWidget.__name__)
"""
    r = run(
        [str(py), "-c", code],
        cwd=tmp_path,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert r.stdout.split() == ["sparsecell", "SparsecellWidget"], r.stdout
