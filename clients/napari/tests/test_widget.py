"""The dock widget in a real napari viewer (pytest-qt, offscreen) against a REAL daemon."""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from sparsecell import Client  # noqa: E402

from sparsecell_napari import SparsecellWidget  # noqa: E402
from sparsecell_napari._sample_data import make_sample_data  # noqa: E402
from sparsecell_napari._widget import POLYGON_LAYER, PREDICTION_LAYER, SUGGESTION_LAYER, _lid  # noqa: E402

from .conftest import TINY_CONFIG, skip_or_fail  # noqa: E402

if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    # napari's canvas needs OpenGL, which Qt's offscreen platform only gets from an X server
    skip_or_fail("no X display for napari's OpenGL canvas: run under xvfb-run (scripts/ci.sh does)")

WAIT = 60_000  # ms


def _make_widget(make_napari_viewer, url, qtbot):
    viewer = make_napari_viewer()
    # as Plugins > sparsecell does: npe2 builds the widget with a (proxied) viewer
    _, w = viewer.window.add_plugin_dock_widget("sparsecell-napari", "sparsecell")
    assert isinstance(w, SparsecellWidget)
    w.config_edit.setText(json.dumps(TINY_CONFIG))
    w.patch_spin.setValue(32)
    w.batch_spin.setValue(4)
    w.extra_train_options = {"seed": 2}
    w.connect(url)
    qtbot.waitUntil(lambda: w.client is not None, timeout=WAIT)
    w.set_start("scratch")  # these tests train tiny models from fresh weights (a starter fixes its own config)
    return w


@pytest.fixture
def widget(make_napari_viewer, daemon, qtbot):
    w = _make_widget(make_napari_viewer, daemon, qtbot)
    yield w
    w.shutdown()


@pytest.fixture
def live_widget(make_napari_viewer, own_daemon, qtbot):
    w = _make_widget(make_napari_viewer, own_daemon, qtbot)
    yield w
    w.shutdown()


@pytest.fixture
def probe(daemon):
    c = Client.connect(daemon)
    yield c
    c.close()


def wait_idle(qtbot, w):
    qtbot.waitUntil(lambda: w.idle, timeout=WAIT)


def paint_nuclei(layer, inst, cols=40):
    """Paint like a person: brush strokes for objects, a filled rectangle of background.

    ``paint`` and ``data_setitem`` are the napari calls the mouse tools use; both emit ``events.paint``.
    """
    ys, xs = np.nonzero(inst[:, :cols] == 0)
    layer.data_setitem((ys, xs), 1)  # background brush over the annotated part
    for k in range(1, inst.max() + 1):
        yy, xx = np.nonzero(inst == k)
        if len(xx) and xx.max() < cols:
            layer.data_setitem((yy, xx), k + 1)


def save_window(w, qtbot, path: Path) -> None:
    """A PNG of the napari window holding the widget: canvas, layer list and the dock widget."""
    w.window().resize(1400, 820)
    w.viewer.reset_view()
    qtbot.wait(100)
    pixmap = w.window().grab()
    pixmap = pixmap.scaledToWidth(min(1100, pixmap.width()))
    assert pixmap.save(str(path), "PNG")
    assert path.stat().st_size > 1000


# One of the 50 held-out DSB2018 test images (server/metrics/split.ts), never trained on by the starter models.
DSB = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "dsb2018-train"
DSB_TEST = "1b6044e4858a9b7cee9b0028d8e54fbc8fb72e6c4424ab5b9f3859bfc72b33c5.tif"


def test_starter_model_predicts_a_held_out_image(make_napari_viewer, daemon, qtbot, tmp_path):
    """The README screenshot: the committed StarDist-like starter ("built-in nuclei model") segments a DSB2018 test
    image before any training; a few sparse labels are painted as a person would start. Written to
    SPARSECELL_NAPARI_SCREENSHOT when set."""
    tifffile = pytest.importorskip("tifffile")
    if not (DSB / "images" / DSB_TEST).exists():
        skip_or_fail(f"{DSB / 'images' / DSB_TEST} is missing (the project's shared DSB2018 data)")
    img = tifffile.imread(DSB / "images" / DSB_TEST)
    truth = tifffile.imread(DSB / "masks" / DSB_TEST).astype(np.int32)
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("sparsecell-napari", "sparsecell")
    try:
        w.connect(daemon)
        qtbot.waitUntil(lambda: w.client is not None, timeout=WAIT)
        w.family_combo.setCurrentText("stardist")
        w.set_start("starter", "nuclei")
        w.polygons_check.setChecked(True)
        layer = w.viewer.add_image(img, name="DSB2018 test image")
        layer.contrast_limits = (0, float(np.percentile(img, 99.8)))
        lab = w.create_labels_layer()
        ys, xs = np.nonzero(truth[:, :60] == 0)
        lab.data_setitem((ys, xs), 1)  # a background stroke band on the left
        for k in np.unique(truth[:, :60])[1:4]:  # and three nuclei
            yy, xx = np.nonzero(truth == k)
            lab.data_setitem((yy, xx), int(k) + 1)
        qtbot.waitUntil(lambda: w.last_generation >= 1, timeout=WAIT)  # the strokes reached the daemon
        w.predict()
        qtbot.waitUntil(lambda: any(m.startswith("prediction:") for m in w.messages), timeout=WAIT)
        pred = w.viewer.layers[PREDICTION_LAYER].data
        polys = w.viewer.layers[POLYGON_LAYER].data
        n_true = len(np.unique(truth)) - 1
        n_pred = len(np.unique(pred)) - 1
        assert 0.7 * n_true <= n_pred <= 1.3 * n_true, (n_pred, n_true)
        assert len(polys) == n_pred
        h, w_ = img.shape[:2]
        for p in polys:  # no polygon around the frame: every one is nucleus-sized
            extent = p.max(axis=0) - p.min(axis=0)
            assert extent[0] < h / 3 and extent[1] < w_ / 3, extent
        w.viewer.layers.selection.active = lab
        shot = Path(os.environ.get("SPARSECELL_NAPARI_SCREENSHOT", tmp_path / "screenshot.png"))
        save_window(w, qtbot, shot)
    finally:
        w.shutdown()


def test_sample_data_contribution():
    [(img, meta, kind)] = make_sample_data()
    assert kind == "image" and img.dtype == np.uint8 and img.ndim == 2 and meta["name"]


def test_manifest_is_valid():
    import npe2

    pm = npe2.PluginManifest.from_file(Path(__file__).parents[1] / "src" / "sparsecell_napari" / "napari.yaml")
    assert pm.name == "sparsecell-napari"
    assert [w.display_name for w in pm.contributions.widgets] == ["sparsecell"]
    assert pm.contributions.sample_data[0].key == "nuclei"


def test_paint_sends_patches(widget, qtbot, nuclei, probe):
    w = widget
    img, inst = nuclei
    w.viewer.add_image(img, name="nuclei")
    lab = w.create_labels_layer()
    assert lab is not None and lab.data.dtype == np.uint16 and lab.selected_label == 2
    assert _lid(w.labels_layer) == _lid(lab) and w.image_layer.name == "nuclei"

    sent = []
    orig = w.client.labels_update

    def spy(sid, iid, labels, **kw):
        sent.append((labels.shape, kw.get("origin")))
        return orig(sid, iid, labels, **kw)

    w.client.labels_update = spy
    w.flush_labels()  # first use: session + image.add + full (empty) labels layer
    wait_idle(qtbot, w)
    assert w.session_id is not None and sent == [((64, 64), None)]

    lab.brush_size = 5
    lab.paint((10, 10), 2)  # a brush dab: one paint event with a small bounding box
    wait_idle(qtbot, w)
    assert len(sent) == 2 and sent[-1][1] is not None and sent[-1][0][0] <= 6

    paint_nuclei(lab, inst)
    wait_idle(qtbot, w)
    assert all(origin is not None for _, origin in sent[1:])
    got = probe.labels_get(w.session_id, w._image_ids[_lid(w.image_layer)], encoding="offset1")
    assert np.array_equal(got.labels, lab.data)
    assert got.counts["objects"] >= 3 and w.last_generation == got.generation

    # undo replays history without a paint event: the widget still resends that box
    lab.undo()
    wait_idle(qtbot, w)
    got = probe.labels_get(w.session_id, w._image_ids[_lid(w.image_layer)], encoding="offset1")
    assert np.array_equal(got.labels, lab.data)


def test_train_progress_and_predict(widget, qtbot, nuclei, tmp_path):
    w = widget
    img, inst = nuclei
    w.viewer.add_image(img, name="nuclei")
    lab = w.create_labels_layer()
    paint_nuclei(lab, inst, cols=64)
    w.family_combo.setCurrentText("elephant")
    w.steps_spin.setValue(40)
    w.polygons_check.setChecked(True)
    values = []
    w.progress.valueChanged.connect(values.append)
    w.train_btn.click()
    qtbot.waitUntil(lambda: w.job_id is not None or any("training done" in m for m in w.messages), timeout=WAIT)
    qtbot.waitUntil(lambda: any(m.startswith("training done") for m in w.messages), timeout=WAIT)
    assert max(values) == 40 and len(set(values)) >= 2, values  # the bar moved
    assert w.progress.value() == 40

    w.predict_btn.click()
    qtbot.waitUntil(lambda: any(m.startswith("prediction:") for m in w.messages), timeout=WAIT)
    pred = w.viewer.layers[PREDICTION_LAYER]
    assert pred.data.shape == (64, 64) and pred.data.dtype == np.int32
    assert pred.data.max() >= 1, "the prediction has no objects"
    assert POLYGON_LAYER in w.viewer.layers

    # what to annotate next: a Shapes layer with the reasons as text; Next suggestion centres the camera on each.
    # Erase the labels of the right part first (everything is labeled, and nothing labeled is ever suggested).
    gen = w.last_generation
    yy, xx = np.nonzero(np.ones((64, 24), bool))
    lab.data_setitem((yy, xx + 40), 0)
    qtbot.waitUntil(lambda: w.last_generation > gen, timeout=WAIT)
    w.suggest_btn.click()
    qtbot.waitUntil(lambda: any(" suggestions (model v" in m for m in w.messages), timeout=WAIT)
    assert w.suggestions, w.messages[-1]
    sug = w.viewer.layers[SUGGESTION_LAYER]
    assert len(sug.data) == len(w.suggestions)
    assert list(sug.features["reason"]) == [s["reason"] for s in w.suggestions]
    assert set(sug.features["reason"]) <= {"uncertain", "near-threshold", "unlike-labeled"}
    assert sug.text.string.format == "{reason}"
    painted = lab.data > 0
    for s in w.suggestions:  # never what is already labeled
        y0, x0, y1, x1 = s["region"]
        assert painted[y0:y1, x0:x1].mean() <= 0.5, s
    for i in range(min(2, len(w.suggestions))):
        w.next_btn.click()
        s = w.suggestions[i]
        y0, x0, y1, x1 = s["region"]
        cy, cx = w.viewer.camera.center[-2:]
        assert abs(cy - (y0 + y1 - 1) / 2) < 1e-6 and abs(cx - (x0 + x1 - 1) / 2) < 1e-6
        assert sug.selected_data == {i} and w.messages[-1].startswith(f"suggestion {i + 1}/")

    w.viewer.layers.selection.active = lab
    save_window(w, qtbot, tmp_path / "screenshot.png")

    out = tmp_path / "model.scm"
    w.export_model(str(out))
    qtbot.waitUntil(lambda: any(m.startswith("model saved") for m in w.messages), timeout=WAIT)
    assert out.stat().st_size > 100

    assert w.bioimageio_btn.isEnabled() and w.bioimageio_btn.text() == "Export for bioimage.io…"
    pkg = tmp_path / "model.zip"
    w.export_bioimageio(str(pkg), name="napari test model")
    qtbot.waitUntil(lambda: any(m.startswith("bioimage.io package saved") for m in w.messages), timeout=WAIT)
    with zipfile.ZipFile(pkg) as z:
        assert {"rdf.yaml", "weights.onnx", "test_input.npy", "test_output.npy", "cover.png", "README.md"} <= set(
            z.namelist()
        )
        rdf = z.read("rdf.yaml").decode()
        assert "name: napari test model" in rdf and "family: elephant" in rdf and "format_version: 0.5." in rdf
        assert z.read("weights.onnx")[:2] == b"\x08\x08"  # ModelProto field 1 (ir_version) = 8
    # a sparsecell package imports back into the session
    c = w.client
    assert c.model_import(w.session_id, pkg.read_bytes(), format="bioimageio")["family"] == "elephant"


def test_live_mode_updates_prediction_after_paint(live_widget, qtbot, nuclei):
    w = live_widget
    img, inst = nuclei
    w.viewer.add_image(img, name="nuclei")
    lab = w.create_labels_layer()
    paint_nuclei(lab, inst, cols=40)
    w.live_btn.click()
    assert w.live
    qtbot.waitUntil(lambda: w.live_job_id is not None or not w.live, timeout=WAIT)
    assert w.last_view is not None  # session.setView was sent
    qtbot.waitUntil(lambda: w.prediction_updates >= 1, timeout=30_000)
    # the first live push is followed by suggestions.updated (then at most one per suggestEveryS)
    qtbot.waitUntil(lambda: w.suggestion_updates >= 1, timeout=30_000)
    assert SUGGESTION_LAYER in w.viewer.layers or not w.suggestions
    before = w.prediction_updates
    gen_before = w.last_generation
    k = inst.max() + 1
    yy, xx = np.nonzero(inst[:, 40:] > 0)
    lab.data_setitem((yy, xx + 40), k + 1)  # paint one more object on the right
    qtbot.waitUntil(lambda: w.last_generation > gen_before, timeout=WAIT)
    qtbot.waitUntil(lambda: w.prediction_updates > before, timeout=30_000)
    assert PREDICTION_LAYER in w.viewer.layers
    # zooming in sends the smaller visible region with session.setView (debounced)
    full = w.last_view[1]
    w.viewer.camera.zoom = w.viewer.camera.zoom * 4
    qtbot.waitUntil(lambda: w.last_view[1] != full, timeout=5_000)
    y0, x0, y1, x1 = w.last_view[1]
    assert (y1 - y0) * (x1 - x0) < 64 * 64
    w.live_btn.click()  # stop
    assert not w.live
    qtbot.waitUntil(lambda: w.live_job_id is None, timeout=30_000)


def test_stack_slice_by_slice(widget, qtbot, nuclei, probe):
    w = widget
    img, inst = nuclei
    stack = np.stack([img, np.roll(img, 5, axis=1), np.roll(img, 9, axis=0)])
    w.viewer.add_image(stack, name="stack")
    lab = w.create_labels_layer()
    assert lab.data.shape == (3, 64, 64)
    w.viewer.dims.set_current_step(0, 1)
    sent = []
    orig = w.client.labels_update
    w.client.labels_update = lambda sid, iid, labels, **kw: (
        sent.append((labels.shape, kw.get("origin"))),
        orig(sid, iid, labels, **kw),
    )[1]
    w.flush_labels()
    wait_idle(qtbot, w)
    lab.brush_size = 4
    lab.paint((1, 20, 30), 3)  # plane 1 only
    wait_idle(qtbot, w)
    shape, origin = sent[-1]
    assert shape[0] == 1 and origin[0] == 1 and len(origin) == 3
    iid = w._image_ids[_lid(w.image_layer)]
    got = probe.labels_get(w.session_id, iid, encoding="offset1").labels
    assert np.array_equal(got, lab.data) and got[1].max() == 3 and got[0].max() == 0
    assert probe.session_get(w.session_id)["images"][0]["axes"] == "ZYX"
    assert w._current_z(w.image_layer) == 1

    # train a few steps on the painted planes, then predict the current plane only
    lab.data[:] = np.stack([inst, np.roll(inst, 5, axis=1), np.roll(inst, 9, axis=0)]) + 1
    lab.events.data(value=lab.data)  # the whole layer replaced (as `layer.data = ...` does)
    w.steps_spin.setValue(3)
    zs = []
    orig_predict = w.client.model_predict_async
    w.client.model_predict_async = lambda *a, **kw: (zs.append(kw.get("z")), orig_predict(*a, **kw))[1]
    w.train()
    qtbot.waitUntil(lambda: any(m.startswith("training done") for m in w.messages), timeout=WAIT)
    w.predict()
    qtbot.waitUntil(lambda: any(m.startswith("prediction:") for m in w.messages), timeout=WAIT)
    assert zs == [1]
    assert w.viewer.layers[PREDICTION_LAYER].data.shape == (3, 64, 64)


def test_start_local_daemon_button(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """With `sparsecell` on PATH the button starts `sparsecell serve --port 0` and connects to it."""
    from .conftest import node_and_server

    node, server = node_and_server()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "sparsecell"
    shim.write_text(f'#!/bin/sh\nexec "{node}" "{server}" "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SPARSECELL_HOME", str(tmp_path / "home"))
    w = SparsecellWidget(make_napari_viewer())
    try:
        assert w.daemon_btn.isEnabled()
        w.daemon_btn.click()
        qtbot.waitUntil(lambda: w.client is not None, timeout=WAIT)
        assert w.daemon is not None and w.url_edit.text() == w.daemon.url
        assert w.client.server_info()["name"] == "sparsecell"
        proc = w.daemon.process
    finally:
        w.shutdown()
    assert proc.poll() is not None  # the widget stopped the daemon it started


def test_plugin_menu_opens_widget_and_sample(make_napari_viewer):
    """What Plugins ▸ sparsecell and File ▸ Open Sample do: npe2 injects the viewer into the widget."""
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("sparsecell-napari", "sparsecell")
    try:
        assert isinstance(w, SparsecellWidget)
        viewer.open_sample("sparsecell-napari", "nuclei")
        assert viewer.layers[-1].data.shape == (128, 128)
        assert _lid(w.image_layer) == _lid(viewer.layers[-1])
        lab = w.create_labels_layer()
        assert lab.data.shape == (128, 128)
    finally:
        w.shutdown()
    # after shutdown the widget no longer reacts to the viewer (and does not crash on it)
    viewer.layers[0].name = "renamed"
    lab.paint((5, 5), 2)
    assert not w._dirty


def test_multiscale_image_sends_full_resolution(widget, qtbot, nuclei, probe):
    w = widget
    img, _ = nuclei
    w.viewer.add_image([img, img[::2, ::2]], multiscale=True, name="pyramid")
    lab = w.create_labels_layer()
    assert lab.data.shape == (64, 64)
    w.flush_labels()
    wait_idle(qtbot, w)
    info = probe.session_get(w.session_id)["images"][0]
    assert info["shape"] == [64, 64] and info["name"] == "pyramid"


def test_start_from_reaches_the_daemon(make_napari_viewer, starter_daemon, qtbot, nuclei):
    """ "Start from: built-in nuclei model / scratch / file…" and the recipe's defaults, against a daemon with a starter."""
    url, archive = starter_daemon
    img, inst = nuclei
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("sparsecell-napari", "sparsecell")
    w.connect(url)
    qtbot.waitUntil(lambda: w.client is not None, timeout=WAIT)
    probe = Client.connect(url, validate=True)
    try:
        info = probe.server_info()
        assert [s["name"] for s in info["starterModels"]] == ["nuclei"]
        # the recipe's defaults, not the widget's own: a time budget, no step count, the recipe's patch / batch
        assert w.start_combo.currentText() == "built-in nuclei model"
        assert w.time_spin.value() == int(info["recipe"]["budgetS"]) and w.steps_spin.value() == 0
        assert str(info["recipe"]["patchSize"]) in w.patch_spin.specialValueText()
        settings = w._model_settings()
        assert settings["steps"] is None and settings["time_limit_s"] == info["recipe"]["budgetS"]
        assert "patchSize" not in settings["options"] and "batchSize" not in settings["options"]

        # built-in: the session is created with the starter and predicts at once (zero-shot), as the daemon does
        w.viewer.add_image(img, name="nuclei")
        lab = w.create_labels_layer()
        paint_nuclei(lab, inst, cols=40)
        w.predict()
        qtbot.waitUntil(lambda: any(m.startswith("prediction:") for m in w.messages), timeout=WAIT)
        assert probe.session_get(w.session_id).get("starter") == "nuclei"
        ref = probe.session_create(starter="nuclei")["sessionId"]
        probe.image_add(ref, img)
        expected = probe.model_predict(ref, "img1").labels
        assert expected.max() >= 1, "the starter predicts no objects: the comparison below would prove nothing"
        pred = w.viewer.layers[PREDICTION_LAYER].data
        assert np.array_equal(pred, expected), "the widget's zero-shot prediction is not the starter's"

        # train (steps given) fine-tunes the starter; then "scratch" sends model.train {from: "scratch"}
        paint_nuclei(lab, inst, cols=inst.shape[1])  # all 6 nuclei: a starter adapts once 5 objects are labeled
        w.steps_spin.setValue(2)
        w.patch_spin.setValue(32)
        w.train()
        qtbot.waitUntil(lambda: any(m.startswith("training done") for m in w.messages), timeout=WAIT)
        got = probe.session_get(w.session_id)
        assert got.get("starter") == "nuclei" and got["modelVersion"] >= 1
        # before its first step the starter adapted to the painted objects, and the widget says how
        assert got.get("adaptation") is not None and got["adaptation"]["invert"] is False
        assert any(m.startswith("starter adapted to your images") for m in w.messages), w.messages[-5:]
        w.set_start("scratch")
        w.config_edit.setText(json.dumps(TINY_CONFIG))
        w.train()
        qtbot.waitUntil(lambda: sum(m.startswith("training done") for m in w.messages) >= 2, timeout=WAIT)
        assert "starter" not in probe.session_get(w.session_id)

        # file…: the widget imports the file into its session; predictions equal that model's
        w.set_start("file", archive)
        n = len([m for m in w.messages if m.startswith("prediction:")])
        w.predict()
        qtbot.waitUntil(lambda: len([m for m in w.messages if m.startswith("prediction:")]) > n, timeout=WAIT)
        ref2 = probe.session_create()["sessionId"]
        probe.image_add(ref2, img)
        with open(archive, "rb") as fh:
            probe.model_import(ref2, fh.read())
        expected = probe.model_predict(ref2, "img1").labels
        assert expected.max() >= 1
        assert np.array_equal(w.viewer.layers[PREDICTION_LAYER].data, expected)
    finally:
        probe.close()
        w.shutdown()
