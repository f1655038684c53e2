"""The sparsecell dock widget: paint sparse labels, train, predict and watch live predictions in napari.

Threading: every network call runs on one background thread (:class:`_SerialRunner`) in submission order, so
label patches, training and prediction reach the daemon in the order the person made them; results and the
client's notifications come back to the UI thread through Qt signals (:class:`_Bridge`). Cancel bypasses the
queue. The UI thread only slices small label patches; whole images are read and encoded on the runner thread.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import QObject, Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from sparsecell import Client, LocalDaemon, Prediction, RpcError, decode_prediction, sparsecell_executable, start_daemon

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["SparsecellWidget", "PREDICTION_LAYER", "POLYGON_LAYER", "SUGGESTION_LAYER", "LEGEND"]

log = logging.getLogger("sparsecell_napari")

PREDICTION_LAYER = "sparsecell prediction"
POLYGON_LAYER = "sparsecell polygons"
SUGGESTION_LAYER = "sparsecell suggestions"
LEGEND = "Brush 1 = background · 2, 3, … = one object each · 0 / eraser = unlabeled (ignored by training)"
DEFAULT_URL = "ws://127.0.0.1:7420"
FAMILIES = ("stardist", "cellpose", "elephant")


class _Bridge(QObject):
    """Signals emitted from the runner / client reader threads, delivered on the UI thread (queued)."""

    progress = Signal(object)
    event = Signal(object)
    closed = Signal(str)
    done = Signal(object, object)  # (callback, result)
    failed = Signal(object, object)  # (callback, exception)


class _SerialRunner:
    """One worker thread running submitted functions in order; callbacks go back through the bridge."""

    def __init__(self, bridge: _Bridge) -> None:
        self._bridge = bridge
        self._q: queue.Queue[tuple | None] = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="sparsecell-widget-runner", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """True from submit() until the task's callback has run on the UI thread."""
        with self._lock:
            return self._pending > 0

    def task_finished(self) -> None:
        with self._lock:
            self._pending -= 1

    def submit(
        self, fn: Callable[[], Any], on_done: Callable[[Any], None] | None, on_error: Callable[[BaseException], None]
    ) -> None:
        with self._lock:
            self._pending += 1
        self._q.put((fn, on_done, on_error))

    def _loop(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            fn, on_done, on_error = item
            try:
                result = fn()
            except BaseException as e:  # noqa: BLE001 - reported on the UI thread
                self._bridge.failed.emit(on_error, e)
            else:
                self._bridge.done.emit(on_done, result)

    def stop(self, timeout: float = 5.0) -> None:
        self._q.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)


def _unwrap(obj: Any) -> Any:
    """The object behind napari's plugin proxy (PublicOnlyProxy makes a new proxy on every access)."""
    return getattr(obj, "__wrapped__", obj)


def _lid(layer: Any) -> int | None:
    """A stable identity of a layer, also through napari's plugin proxies."""
    return None if layer is None else id(_unwrap(layer))


def _merge(a: list[int] | None, b: list[int]) -> list[int]:
    if a is None:
        return list(b)
    return [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]


def _atom_bounds(atom: Any, shape: tuple[int, ...]) -> list[tuple[int, int]] | None:
    """[(start, stop)] per axis of one napari Labels history atom (mask-based or fancy-index form)."""
    key = getattr(atom, "slice_key", None)
    if key is not None:
        out = []
        for sl, n in zip(key, shape, strict=False):  # a slice key may cover fewer axes than the layer
            if isinstance(sl, slice):
                start, stop, _ = sl.indices(n)
            else:
                start, stop = int(sl), int(sl) + 1
            out.append((start, stop))
        return out
    if isinstance(atom, tuple) and len(atom) == 3:
        idx = atom[0]
        if not isinstance(idx, tuple):
            return None
        out = []
        for ax, _n in zip(idx, shape, strict=False):
            a = np.asarray(ax)
            if a.size == 0:
                return None
            if a.dtype == bool:
                return None
            out.append((int(a.min()), int(a.max()) + 1))
        return out
    return None


class SparsecellWidget(QWidget):
    """Dock widget: connect, pick image + sparse labels, train / live / predict / cancel / export."""

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.client: Client | None = None
        self.daemon: LocalDaemon | None = None
        self.server_info: dict | None = None
        self.session_id: str | None = None
        self.session_family: str | None = None
        self.session_config: dict | None = None
        #: what the session's model began from: ("starter", name), ("scratch",) or ("file", path)
        self.session_start: tuple | None = None
        #: the model file for "Start from: file…" (asked for with a file dialog when it is chosen)
        self.start_model_file: str | None = None
        self.messages: list[str] = []
        self.last_generation = 0
        self.last_counts: dict | None = None
        self.job_id: str | None = None
        self.live_job_id: str | None = None
        self.last_view: tuple | None = None
        self.prediction_updates = 0
        #: model.suggest / suggestions.updated: what to annotate next, best first; the index "Next suggestion" is at
        self.suggestions: list[dict] = []
        self.suggestion_index = -1
        self.suggestion_updates = 0
        #: extra TrainOptions merged into every model.train (e.g. {"seed": 1, "learningRate": 1e-3}); scripting only
        self.extra_train_options: dict = {}
        self._image_ids: dict[int, str] = {}  # id(image layer) -> imageId (current session)
        self._synced: set[tuple[int, int]] = set()  # (id(image), id(labels)) pairs with labels on the server
        self._dirty: dict[Any, list[int]] = {}  # plane key (() or (z,)) -> [y0, x0, y1, x1]
        self._labels_layer: Any = None
        self._hist_len = (0, 0)
        self._progress_by_token: dict[Any, dict] = {}
        self._predict_call: Any = None
        self._predict_token: str | None = None
        self._predict_seq = itertools.count(1)
        self._closed = False

        self._bridge = _Bridge()
        self._bridge.done.connect(self._on_done)
        self._bridge.failed.connect(self._on_failed)
        self._bridge.progress.connect(self._on_progress)
        self._bridge.event.connect(self._on_event)
        self._bridge.closed.connect(self._on_connection_closed)
        self._runner = _SerialRunner(self._bridge)

        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(250)
        self._flush_timer.timeout.connect(self.flush_labels)
        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(300)
        self._view_timer.timeout.connect(self.send_view)

        self._build_ui()
        self.viewer.layers.events.inserted.connect(self._on_layers_changed)
        self.viewer.layers.events.removed.connect(self._on_layers_changed)
        self.viewer.layers.events.moved.connect(self._on_layers_changed)
        self.viewer.camera.events.center.connect(self._on_view_changed)
        self.viewer.camera.events.zoom.connect(self._on_view_changed)
        self.viewer.dims.events.current_step.connect(self._on_view_changed)
        self._refresh_layer_combos()

    # ---------------------------------------------------------------------------------------------------------
    # UI
    # ---------------------------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        root = QVBoxLayout(self)

        server = QGroupBox("Server")
        f = QFormLayout(server)
        self.url_edit = QLineEdit(DEFAULT_URL)
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.Password)
        self.token_edit.setPlaceholderText("only for non-local daemons")
        f.addRow("URL", self.url_edit)
        f.addRow("Token", self.token_edit)
        row = QHBoxLayout()
        self.connect_btn = QPushButton("Connect")
        self.connect_btn.clicked.connect(lambda: self.connect())
        self.daemon_btn = QPushButton("Start local daemon")
        self.daemon_btn.setToolTip("Runs `sparsecell serve --port 0` (needs sparsecell on PATH)")
        self.daemon_btn.setEnabled(sparsecell_executable() is not None)
        self.daemon_btn.clicked.connect(lambda: self.start_local_daemon())
        row.addWidget(self.connect_btn)
        row.addWidget(self.daemon_btn)
        f.addRow(row)
        self.status_label = QLabel("not connected")
        f.addRow(self.status_label)
        root.addWidget(server)

        data = QGroupBox("Data")
        f = QFormLayout(data)
        self.image_combo = QComboBox()
        self.labels_combo = QComboBox()
        self.image_combo.currentIndexChanged.connect(self._on_image_selected)
        self.labels_combo.currentIndexChanged.connect(self._on_labels_selected)
        f.addRow("Image", self.image_combo)
        f.addRow("Sparse labels", self.labels_combo)
        self.new_labels_btn = QPushButton("New sparse labels layer")
        self.new_labels_btn.clicked.connect(lambda: self.create_labels_layer())
        f.addRow(self.new_labels_btn)
        self.axes_combo = QComboBox()
        self.axes_combo.addItems(["ZYX", "TYX"])
        self.axes_combo.setToolTip("Axis order of 3D stacks (3D volume or 2D + time); trained slice by slice")
        f.addRow("Stack axes", self.axes_combo)
        legend = QLabel(LEGEND)
        legend.setWordWrap(True)
        legend.setStyleSheet("color: gray; font-size: 11px")
        f.addRow(legend)
        root.addWidget(data)

        model = QGroupBox("Model")
        f = QFormLayout(model)
        self.family_combo = QComboBox()
        self.family_combo.addItems(FAMILIES)
        f.addRow("Family", self.family_combo)
        self.start_combo = QComboBox()
        self.start_combo.setToolTip(
            "What the model starts from: a built-in trained model (predicts at once, then your "
            "labels fine-tune it), fresh weights, or a model file (model.export / CLI)"
        )
        self._set_start_items([])
        self.start_combo.activated.connect(self._on_start_chosen)
        f.addRow("Start from", self.start_combo)
        # Defaults come from the daemon's recipe (server.info.recipe) once connected; 0 = "the daemon's default".
        self.time_spin = QSpinBox()
        self.time_spin.setRange(0, 7 * 24 * 3600)
        self.time_spin.setSpecialValueText("recipe")
        self.time_spin.setToolTip("Training time in seconds (0: the daemon's recipe budget); used when Steps is 0")
        f.addRow("Time limit (s)", self.time_spin)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(0, 1_000_000)
        self.steps_spin.setSpecialValueText("time limit")
        self.steps_spin.setToolTip("Optimizer steps (0: train for the time limit instead)")
        f.addRow("Steps", self.steps_spin)
        self.patch_spin = QSpinBox()
        self.patch_spin.setRange(0, 1024)
        self.patch_spin.setSingleStep(16)
        self.patch_spin.setSpecialValueText("recipe")
        f.addRow("Patch size", self.patch_spin)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(0, 64)
        self.batch_spin.setSpecialValueText("recipe")
        f.addRow("Batch size", self.batch_spin)
        self.config_edit = QLineEdit()
        self.config_edit.setPlaceholderText('family config JSON, e.g. {"nRays": 32}')
        f.addRow("Config", self.config_edit)
        self.polygons_check = QCheckBox("Show polygons (Shapes layer)")
        f.addRow(self.polygons_check)
        root.addWidget(model)

        grid = QGridLayout()
        self.train_btn = QPushButton("Train")
        self.live_btn = QPushButton("Live")
        self.live_btn.setCheckable(True)
        self.live_btn.setToolTip("Keep training while you paint; predictions of the visible region update live")
        self.predict_btn = QPushButton("Predict")
        self.cancel_btn = QPushButton("Cancel")
        self.export_btn = QPushButton("Export model…")
        self.bioimageio_btn = QPushButton("Export for bioimage.io…")
        self.bioimageio_btn.setToolTip(
            "Save a bioimage.io model package (zip with ONNX weights) for deepImageJ, ilastik, "
            "bioimageio.core and the BioImage Model Zoo"
        )
        self.train_btn.clicked.connect(lambda: self.train())
        self.live_btn.toggled.connect(self.set_live)
        self.predict_btn.clicked.connect(lambda: self.predict())
        self.cancel_btn.clicked.connect(lambda: self.cancel())
        self.export_btn.clicked.connect(lambda: self.export_model())
        self.bioimageio_btn.clicked.connect(lambda: self.export_bioimageio())
        grid.addWidget(self.train_btn, 0, 0)
        grid.addWidget(self.live_btn, 0, 1)
        grid.addWidget(self.predict_btn, 0, 2)
        grid.addWidget(self.cancel_btn, 1, 0)
        grid.addWidget(self.export_btn, 1, 1)
        grid.addWidget(self.bioimageio_btn, 1, 2)
        self.suggest_btn = QPushButton("Suggest")
        self.suggest_btn.setToolTip(
            "What to annotate next: the objects and areas of the view that would teach the model most "
            "(model.suggest; in Live mode they refresh on their own)"
        )
        self.next_btn = QPushButton("Next suggestion")
        self.next_btn.setToolTip("Centre the view on the next suggestion, best first")
        self.suggest_btn.clicked.connect(lambda: self.suggest())
        self.next_btn.clicked.connect(lambda: self.next_suggestion())
        grid.addWidget(self.suggest_btn, 2, 0)
        grid.addWidget(self.next_btn, 2, 1)
        root.addLayout(grid)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        root.addWidget(self.progress)
        self.log_label = QLabel("")
        self.log_label.setWordWrap(True)
        self.log_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        root.addWidget(self.log_label)
        root.addStretch(1)
        self._set_connected(False)

    SCRATCH = "scratch"
    FILE = "file…"

    def _set_start_items(self, starters: list) -> None:
        """Rebuild "Start from": one "built-in NAME model" per starter name the daemon offers, scratch, file…."""
        names = sorted({s["name"] for s in starters})
        self.start_combo.clear()
        for n in names:
            self.start_combo.addItem(f"built-in {n} model", ("starter", n))
        self.start_combo.addItem(self.SCRATCH, ("scratch",))
        self.start_combo.addItem(self.FILE, ("file",))
        self.start_combo.setCurrentIndex(0)

    def set_start(self, kind: str, value: str | None = None) -> None:
        """Scripting: ``set_start("starter", "nuclei")``, ``set_start("scratch")`` or ``set_start("file", path)``."""
        if kind == "file":
            self.start_model_file = value
        for i in range(self.start_combo.count()):
            d = self.start_combo.itemData(i)
            if d[0] == kind and (kind != "starter" or d[1] == value):
                self.start_combo.setCurrentIndex(i)
                return
        raise ValueError(
            f"no start option {kind} {value or ''}: the daemon offers {self.start_combo.count() - 2} starter(s)"
        )

    def _on_start_chosen(self, index: int) -> None:
        if self.start_combo.itemData(index) == ("file",):
            path, _ = QFileDialog.getOpenFileName(
                self, "Start from a sparsecell model", "", "sparsecell model (*.scm);;all files (*)"
            )
            if path:
                self.start_model_file = path
            elif not self.start_model_file:
                self.start_combo.setCurrentIndex(max(0, self.start_combo.findText(self.SCRATCH)))

    def _apply_recipe(self, info: dict) -> None:
        """Show the daemon's training defaults (server.info.recipe) instead of the widget's own."""
        recipe = info.get("recipe") or {}
        if recipe.get("budgetS"):
            self.time_spin.setValue(int(round(recipe["budgetS"])))
        for spin, key in ((self.patch_spin, "patchSize"), (self.batch_spin, "batchSize")):
            if key in recipe:
                spin.setSpecialValueText(f"recipe ({recipe[key]})")
        self._set_start_items(info.get("starterModels") or [])

    def _set_connected(self, ok: bool) -> None:
        for b in (
            self.train_btn,
            self.live_btn,
            self.predict_btn,
            self.cancel_btn,
            self.export_btn,
            self.bioimageio_btn,
            self.suggest_btn,
            self.next_btn,
        ):
            b.setEnabled(ok)

    def log(self, msg: str) -> None:
        """Show a message on the log line (and keep it in ``messages``)."""
        self.messages.append(msg)
        del self.messages[:-200]
        self.log_label.setText(msg)
        self.log_label.setToolTip("\n".join(self.messages[-15:]))
        log.info("sparsecell: %s", msg)

    # ---------------------------------------------------------------------------------------------------------
    # runner plumbing
    # ---------------------------------------------------------------------------------------------------------
    def _submit(
        self, fn: Callable[[], Any], on_done: Callable[[Any], None] | None = None, what: str = "request"
    ) -> None:
        def on_error(e: BaseException) -> None:
            self.log(f"{what} failed: {e}")

        self._runner.submit(fn, on_done, on_error)

    def _on_done(self, cb: Callable[[Any], None] | None, result: Any) -> None:
        try:
            if cb is not None and not self._closed:
                cb(result)
        finally:
            self._runner.task_finished()

    def _on_failed(self, cb: Callable[[BaseException], None], e: BaseException) -> None:
        try:
            if not self._closed:
                cb(e)
        finally:
            self._runner.task_finished()

    @property
    def idle(self) -> bool:
        """No label patch waiting and nothing queued or running on the runner thread."""
        return not self._dirty and not self._flush_timer.isActive() and not self._runner.busy

    # ---------------------------------------------------------------------------------------------------------
    # connection
    # ---------------------------------------------------------------------------------------------------------
    def connect(self, url: str | None = None, token: str | None = None) -> None:  # type: ignore[override]
        """Connect to the daemon at ``url`` (default: the URL field)."""
        if url is not None:
            self.url_edit.setText(url)
        if token is not None:
            self.token_edit.setText(token)
        url = self.url_edit.text().strip()
        tok = self.token_edit.text().strip() or None
        self.status_label.setText(f"connecting to {url} …")

        def work() -> tuple[Client, dict]:
            c = Client.connect(url, tok)
            try:
                return c, c.server_info()
            except Exception:
                c.close()
                raise

        def done(r: tuple[Client, dict]) -> None:
            self._install_client(*r)

        def failed(e: BaseException) -> None:
            self.status_label.setText("not connected")
            self.log(f"connect failed: {e}")

        self._runner.submit(work, done, failed)

    def _install_client(self, client: Client, info: dict) -> None:
        old, self.client = self.client, client
        if old is not None:
            old.close()
        self.server_info = info
        self._reset_session_state()
        self._apply_recipe(info)
        client.on_progress(self._bridge.progress.emit)
        client.on_event(self._emit_event)
        client.on_close(self._bridge.closed.emit)
        backend = info.get("backend", {}).get("name", "?")
        self.status_label.setText(f"connected: sparsecell {info.get('version')} · {client.url} · backend {backend}")
        self.log(f"connected to {client.url}")
        self._set_connected(True)

    def _emit_event(self, ev: dict) -> None:
        # runs in the client's reader thread: decode arrays here, not on the UI thread
        if ev.get("type") == "prediction.updated":
            try:
                self._bridge.event.emit(decode_prediction(ev))
            except Exception as e:  # noqa: BLE001
                log.warning("bad prediction.updated: %s", e)
            return
        self._bridge.event.emit(ev)

    def _on_connection_closed(self, reason: str) -> None:
        if self._closed:
            return
        if self.client is not None and self.client.closed:
            self.status_label.setText(f"disconnected ({reason})")
            self._set_connected(False)
            self.live_btn.blockSignals(True)
            self.live_btn.setChecked(False)
            self.live_btn.blockSignals(False)

    def _reset_session_state(self) -> None:
        self.session_id = None
        self.session_family = None
        self.session_config = None
        self.session_start = None
        self._image_ids.clear()
        self._synced.clear()
        self.job_id = None
        self.live_job_id = None
        self.last_view = None

    def start_local_daemon(self) -> None:
        """Start ``sparsecell serve --port 0`` and connect to it."""
        if self.daemon is not None and self.daemon.process.poll() is None:
            self.connect(self.daemon.url)
            return
        self.log("starting local sparsecell daemon …")

        def done(d: LocalDaemon) -> None:
            self.daemon = d
            self.log(f"local daemon at {d.url} (log {d.log_path})")
            self.connect(d.url, "")

        self._submit(lambda: start_daemon(), done, "start daemon")

    # ---------------------------------------------------------------------------------------------------------
    # layers
    # ---------------------------------------------------------------------------------------------------------
    def _layers_of(self, kind: str) -> list[Any]:
        from napari.layers import Image, Labels

        cls = Image if kind == "image" else Labels
        return [ly for ly in self.viewer.layers if isinstance(ly, cls) and ly.name != PREDICTION_LAYER]

    def _on_layers_changed(self, event: Any = None) -> None:
        if self._closed:
            return
        layer = getattr(event, "value", None)
        if layer is not None and getattr(event, "type", "") == "inserted":
            layer.events.name.connect(self._on_layers_changed)
        self._refresh_layer_combos()

    def _refresh_layer_combos(self) -> None:
        for combo, kind in ((self.image_combo, "image"), (self.labels_combo, "labels")):
            current = combo.currentText()
            names = [ly.name for ly in self._layers_of(kind)]
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            if current in names:
                combo.setCurrentIndex(names.index(current))
            elif names:
                combo.setCurrentIndex(len(names) - 1 if kind == "labels" else 0)
            combo.blockSignals(False)
        self._on_image_selected()
        self._on_labels_selected()

    def _layer(self, combo: QComboBox) -> Any:
        name = combo.currentText()
        return self.viewer.layers[name] if name and name in self.viewer.layers else None

    @property
    def image_layer(self) -> Any:
        return self._layer(self.image_combo)

    @property
    def labels_layer(self) -> Any:
        return self._layer(self.labels_combo)

    def _on_image_selected(self, *_: Any) -> None:
        img = self.image_layer
        self.axes_combo.setEnabled(img is not None and self._spatial_ndim(img) == 3)

    def _on_labels_selected(self, *_: Any) -> None:
        layer = None if self._closed else self.labels_layer
        if _lid(layer) == _lid(self._labels_layer):
            return
        old = self._labels_layer
        if old is not None:
            for ev, cb in (
                (old.events.paint, self._on_paint),
                (old.events.data, self._on_labels_data),
                (old.events.set_data, self._on_labels_set_data),
            ):
                try:
                    ev.disconnect(cb)
                except Exception:  # noqa: BLE001
                    pass
        self._dirty.clear()
        self._labels_layer = layer
        if layer is not None:
            layer.events.paint.connect(self._on_paint)
            layer.events.data.connect(self._on_labels_data)
            layer.events.set_data.connect(self._on_labels_set_data)
            self._hist_len = self._history_lengths(layer)

    @staticmethod
    def _spatial_ndim(img: Any) -> int:
        return img.ndim - (1 if getattr(img, "rgb", False) else 0) if img.ndim >= 2 else img.ndim

    @staticmethod
    def _full_res(img: Any) -> Any:
        """The full-resolution array of an image layer (level 0 of a multiscale one)."""
        return img.data[0] if getattr(img, "multiscale", False) else img.data

    def _spatial_shape(self, img: Any) -> tuple[int, ...]:
        shape = tuple(int(s) for s in self._full_res(img).shape)
        return shape[:-1] if getattr(img, "rgb", False) else shape

    def _axes(self, img: Any) -> str:
        if getattr(img, "rgb", False):
            if img.ndim != 3:
                raise ValueError("RGB images must be 2D (YXC)")
            return "YXC"
        if img.ndim == 2:
            return "YX"
        if img.ndim == 3:
            return self.axes_combo.currentText()
        raise ValueError(f"{img.ndim}D images are not supported (2D, 2D+t or 3D)")

    def create_labels_layer(self) -> Any:
        """Add an empty sparse-labels layer (offset1: 1 = background, 2.. = objects, 0 = unlabeled)."""
        img = self.image_layer
        if img is None:
            self.log("add or select an image layer first")
            return None
        shape = self._spatial_shape(img)
        dtype = np.uint16
        layer = self.viewer.add_labels(
            np.zeros(shape, dtype=dtype),
            name=f"{img.name} sparse labels",
            scale=img.scale[-len(shape) :],
            translate=img.translate[-len(shape) :],
        )
        layer.selected_label = 2
        layer.brush_size = max(3, min(shape[-2:]) // 40)
        try:
            layer.mode = "paint"
        except Exception:  # noqa: BLE001
            pass
        self.labels_combo.setCurrentText(layer.name)
        self._on_labels_selected()
        self.log(f"painting on '{layer.name}': {LEGEND}")
        return layer

    # ---------------------------------------------------------------------------------------------------------
    # label deltas
    # ---------------------------------------------------------------------------------------------------------
    def _add_dirty(self, bounds: list[tuple[int, int]], ndim: int) -> None:
        (y0, y1), (x0, x1) = bounds[-2], bounds[-1]
        if y1 <= y0 or x1 <= x0:
            return
        box = [y0, x0, y1, x1]
        if ndim == 2:
            self._dirty[()] = _merge(self._dirty.get(()), box)
        else:
            z0, z1 = bounds[0]
            for z in range(z0, z1):
                self._dirty[(z,)] = _merge(self._dirty.get((z,)), box)
        self._flush_timer.start()

    def _on_paint(self, event: Any) -> None:
        layer = self._labels_layer
        if layer is None or self._closed:
            return
        shape = tuple(layer.data.shape)
        atoms = event.value if isinstance(event.value, list) else [event.value]
        for atom in atoms:
            b = _atom_bounds(atom, shape)
            if b is None:
                self._mark_all_dirty(layer)
                return
            self._add_dirty(b, layer.ndim)
        self._hist_len = self._history_lengths(layer)

    def _on_labels_data(self, event: Any = None) -> None:
        # the whole array was replaced (layer.data = ...): resend it
        layer = self._labels_layer
        if layer is not None:
            self._mark_all_dirty(layer)

    @staticmethod
    def _history(layer: Any) -> tuple[Any, Any]:
        # napari has no public undo/redo event: read the history stacks (best effort; () when they moved)
        real = _unwrap(layer)
        return getattr(real, "_undo_history", ()), getattr(real, "_redo_history", ())

    @classmethod
    def _history_lengths(cls, layer: Any) -> tuple[int, int]:
        undo, redo = cls._history(layer)
        return len(undo), len(redo)

    def _on_labels_set_data(self, event: Any = None) -> None:
        # undo / redo replay history without a paint event; they show up as a refresh with changed history
        layer = self._labels_layer
        if layer is None:
            return
        now = self._history_lengths(layer)
        if now == self._hist_len:
            return
        undo0, redo0 = self._hist_len
        self._hist_len = now
        moved = None
        undo, redo = self._history(layer)
        if now[0] == undo0 - 1 and now[1] == redo0 + 1:  # undo: the item went to the redo stack
            moved = redo[-1]
        elif now[0] == undo0 + 1 and now[1] == redo0 - 1:  # redo
            moved = undo[-1]
        if moved is None:
            return
        shape = tuple(layer.data.shape)
        for atom in moved:
            b = _atom_bounds(atom, shape)
            if b is None:
                self._mark_all_dirty(layer)
                return
            self._add_dirty(b, layer.ndim)

    def _mark_all_dirty(self, layer: Any) -> None:
        shape = tuple(layer.data.shape)
        self._add_dirty([(0, n) for n in shape], layer.ndim)

    def mark_dirty(self, region: list[int], z: int | None = None) -> None:
        """Mark ``[y0, x0, y1, x1]`` (of plane ``z`` for stacks) as changed, as a paint event does."""
        y0, x0, y1, x1 = (int(v) for v in region)
        bounds = [(y0, y1), (x0, x1)]
        if z is not None:
            bounds = [(int(z), int(z) + 1)] + bounds
        layer = self._labels_layer
        self._add_dirty(bounds, layer.ndim if layer is not None else len(bounds))

    def flush_labels(self) -> None:
        """Send the changed label boxes now (normally called by the debounce timer)."""
        self._flush_timer.stop()
        img, lab = self.image_layer, self.labels_layer
        if self.client is None or img is None or lab is None:
            return  # kept dirty; the first sync sends the whole layer anyway
        if (_lid(img), _lid(lab)) not in self._synced:
            self._dirty.clear()
            self._sync(img, lab)
            return
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, {}
        data = lab.data
        for key, (y0, x0, y1, x1) in sorted(dirty.items()):
            if key:
                z = key[0]
                patch = np.array(data[z, y0:y1, x0:x1])[None]  # copy of the patch only
                origin = [z, y0, x0]
            else:
                patch = np.array(data[y0:y1, x0:x1])
                origin = [y0, x0]
            self._send_patch(img, patch, origin)

    def _send_patch(self, img: Any, patch: np.ndarray, origin: list[int]) -> None:
        key = _lid(img)
        client = self.client

        def work() -> dict:
            sid, iid = self.session_id, self._image_ids.get(key)
            if client is None or sid is None or iid is None:
                raise RuntimeError("image not on the server")
            return client.labels_update(sid, iid, patch, encoding="offset1", origin=origin)

        self._submit(work, self._labels_acked, "labels.update")

    def _labels_acked(self, r: dict) -> None:
        self.last_generation = r["generation"]
        self.last_counts = r["counts"]
        c = r["counts"]
        self.log(f"labels sent · generation {r['generation']} · {c['objects']} objects, {c['background']} bg px")

    # ---------------------------------------------------------------------------------------------------------
    # session / image sync (runner thread parts end in _w)
    # ---------------------------------------------------------------------------------------------------------
    def _model_settings(self) -> dict:
        text = self.config_edit.text().strip()
        config = json.loads(text) if text else None
        if config is not None and not isinstance(config, dict):
            raise ValueError("config must be a JSON object")
        start = tuple(self.start_combo.currentData() or ("scratch",))
        if start == ("file",):
            if not self.start_model_file:
                raise ValueError("Start from: file… needs a model file")
            start = ("file", self.start_model_file)
        if start[0] == "starter":
            config = None  # a starter model fixes the family config
        options = {
            k: spin.value()
            for k, spin in (("patchSize", self.patch_spin), ("batchSize", self.batch_spin))
            if spin.value() > 0
        }
        return {
            "family": self.family_combo.currentText(),
            "config": config,
            "start": start,
            "steps": self.steps_spin.value() or None,
            "time_limit_s": self.time_spin.value() or None,
            "options": {**options, **self.extra_train_options},
        }

    def _start_w(self, client: Client, sid: str, start: tuple) -> dict:
        """model.train params (and a model.import for a file) that move the session to ``start``."""
        if start == self.session_start:
            return {}
        if start[0] == "file":
            with open(start[1], "rb") as fh:
                client.model_import(sid, fh.read())
            self.session_start = start
            return {}
        self.session_start = start
        return {"start_from": start[0]}

    def _ensure_session_w(self, client: Client, settings: dict) -> str:
        if self.session_id is None:
            name = "napari"
            img = settings.get("image_name")
            if img:
                name = f"napari {img}"[:200]
            start = settings.get("start", ("scratch",))
            starter = start[1] if start[0] == "starter" else None
            r = client.session_create(name=name, family=settings["family"], config=settings["config"], starter=starter)
            self.session_id, self.session_family = r["sessionId"], r["family"]
            self.session_config = settings["config"]
            self.session_start = ("starter", r["starter"]) if r.get("starter") else ("scratch",)
            if start[0] == "file":
                self._start_w(client, self.session_id, start)
        return self.session_id

    def _sync(self, img: Any, lab: Any, settings: dict | None = None) -> None:
        """Queue: session (if none), image.add (if new), full labels upload (if this pair is new)."""
        client = self.client
        if client is None:
            return
        try:
            settings = settings or self._model_settings()
            axes = self._axes(img)
        except Exception as e:  # noqa: BLE001
            self.log(str(e))
            return
        settings = dict(settings, image_name=img.name)
        pair = (_lid(img), _lid(lab)) if lab is not None else None
        if lab is not None:
            if self._spatial_shape(img) != tuple(lab.data.shape):
                self.log(f"labels shape {tuple(lab.data.shape)} != image shape {self._spatial_shape(img)}")
                return
            self._synced.add(pair)  # patches queued after this are ordered after the full upload

        def work() -> dict | None:
            sid = self._ensure_session_w(client, settings)
            iid = self._image_ids.get(_lid(img))
            if iid is None:
                data = np.asarray(self._full_res(img))  # no copy for NumPy-backed layers
                iid = client.image_add(sid, data, axes=axes, name=img.name[:200])["imageId"]
                self._image_ids[_lid(img)] = iid
            if lab is not None:
                return client.labels_update(sid, iid, np.asarray(lab.data), encoding="offset1")
            return None

        def done(r: dict | None) -> None:
            if r is not None:
                self._labels_acked(r)

        def failed(e: BaseException) -> None:
            self._synced.discard(pair)
            self.log(f"sync failed: {e}")

        self._runner.submit(work, done, failed)

    def _prepare(self) -> tuple[Any, Any] | None:
        if self.client is None:
            self.log("connect to a sparsecell daemon first")
            return None
        img, lab = self.image_layer, self.labels_layer
        if img is None:
            self.log("select an image layer")
            return None
        if (_lid(img), _lid(lab)) not in self._synced or _lid(img) not in self._image_ids:
            self._dirty.clear()
            self._sync(img, lab)
        self.flush_labels()
        return img, lab

    def _current_z(self, layer: Any) -> int | None:
        if self._spatial_ndim(layer) != 3:
            return None
        try:
            pt = layer.world_to_data(self.viewer.dims.point)
            z = int(round(float(pt[0])))
        except Exception:  # noqa: BLE001
            z = int(self.viewer.dims.current_step[0])
        return max(0, min(int(layer.data.shape[0]) - 1, z))

    # ---------------------------------------------------------------------------------------------------------
    # train / predict / live / cancel / export
    # ---------------------------------------------------------------------------------------------------------
    def _train_params(self, settings: dict) -> dict:
        p: dict = {"options": settings["options"]}
        if self.session_family is not None and settings["family"] != self.session_family:
            p["family"] = settings["family"]  # the daemon starts a fresh model of that family
        if settings["config"] is not None and settings["config"] != self.session_config:
            p["config"] = settings["config"]
        if settings["start"][0] == "starter" and "family" in p:
            self.session_start = None  # a new family: its own starter
        return p

    def train(self) -> None:
        """Flush labels and start ``model.train`` with the widget's steps / options."""
        try:
            settings = self._model_settings()
        except Exception as e:  # noqa: BLE001
            self.log(f"bad settings: {e}")
            return
        if self._prepare() is None:
            return
        client = self.client
        self.progress.setRange(0, settings["steps"] or 0)
        self.progress.setValue(0)
        self.progress.setFormat("starting …")

        def work() -> dict:
            sid = self._ensure_session_w(client, settings)
            p = self._train_params(settings)
            p.update(self._start_w(client, sid, settings["start"]))
            limit = settings["time_limit_s"] if settings["steps"] is None else None
            r = client.model_train(sid, steps=settings["steps"], time_limit_s=limit, **p)
            self.session_family = settings["family"]
            if "config" in p:
                self.session_config = p["config"]
            return r

        def done(r: dict) -> None:
            self.job_id = r["jobId"]
            self.log(f"training {settings['family']} · job {self.job_id}")
            last = self._progress_by_token.get(self.job_id)
            if last is not None:
                self._on_progress(last)

        self._submit(work, done, "model.train")

    def set_live(self, on: bool) -> None:
        """Start (``model.train {live: true}`` + ``session.setView``) or stop live mode."""
        if self.live_btn.isChecked() != on:
            self.live_btn.blockSignals(True)
            self.live_btn.setChecked(on)
            self.live_btn.blockSignals(False)
        if on:
            try:
                settings = self._model_settings()
            except Exception as e:  # noqa: BLE001
                self.log(f"bad settings: {e}")
                self.set_live(False)
                return
            if self._prepare() is None:
                self.set_live(False)
                return
            client = self.client
            self.last_view = None
            self.send_view()

            def work() -> dict:
                sid = self._ensure_session_w(client, settings)
                p = self._train_params(settings)
                p.update(self._start_w(client, sid, settings["start"]))
                r = client.model_train(sid, live=True, **p)
                self.session_family = settings["family"]
                return r

            def done(r: dict) -> None:
                self.live_job_id = r["jobId"]
                self.log(f"live training · job {self.live_job_id}: paint and watch '{PREDICTION_LAYER}'")
                if not self.live_btn.isChecked():  # stopped meanwhile
                    self._cancel_job(self.live_job_id)

            def failed(e: BaseException) -> None:
                self.log(f"live mode failed: {e}")
                self.set_live(False)

            self._runner.submit(work, done, failed)
            self.progress.setRange(0, 0)
            self.progress.setFormat("live")
        else:
            if self.live_job_id is not None:
                self._cancel_job(self.live_job_id)
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("idle")

    @property
    def live(self) -> bool:
        return self.live_btn.isChecked()

    def _on_view_changed(self, event: Any = None) -> None:
        if self.live:
            self._view_timer.start()

    def visible_region(self, layer: Any) -> list[int]:
        """[y0, x0, y1, x1] of ``layer``'s plane visible in the canvas (the whole plane when unknown)."""
        h, w = self._spatial_shape(layer)[-2:]
        try:
            zoom = float(self.viewer.camera.zoom)
            ch, cw = (float(s) for s in self.viewer.canvas.size)
            cy, cx = (float(v) for v in self.viewer.camera.center[-2:])
            if zoom <= 0 or ch <= 1 or cw <= 1:
                raise ValueError("no canvas")
            hh, hw = ch / (2 * zoom), cw / (2 * zoom)
            pt0 = list(self.viewer.dims.point)
            pt1 = list(self.viewer.dims.point)
            pt0[-2:] = [cy - hh, cx - hw]
            pt1[-2:] = [cy + hh, cx + hw]
            d0 = layer.world_to_data(pt0)[-2:]
            d1 = layer.world_to_data(pt1)[-2:]
            y0, y1 = sorted((float(d0[0]), float(d1[0])))
            x0, x1 = sorted((float(d0[1]), float(d1[1])))
            r = [
                max(0, int(np.floor(y0))),
                max(0, int(np.floor(x0))),
                min(h, int(np.ceil(y1))),
                min(w, int(np.ceil(x1))),
            ]
            if r[2] <= r[0] or r[3] <= r[1]:
                raise ValueError("view outside the image")
            return r
        except Exception:  # noqa: BLE001
            return [0, 0, int(h), int(w)]

    def send_view(self) -> None:
        """``session.setView`` with the visible region and slice of the image (when it changed)."""
        self._view_timer.stop()
        img = self.image_layer
        client = self.client
        if img is None or client is None:
            return
        region = self.visible_region(img)
        z = self._current_z(img)
        # the daemon indexes the planes of ZYX and TYX images alike by z
        extra: dict = {} if z is None else {"z": z}
        view = (_lid(img), tuple(region), z)
        if view == self.last_view:
            return
        self.last_view = view
        key = _lid(img)

        def work() -> dict:
            sid, iid = self.session_id, self._image_ids.get(key)
            if sid is None or iid is None:
                raise RuntimeError("image not on the server")
            return client.session_set_view(sid, iid, region, **extra)

        self._submit(work, None, "session.setView")

    def _prepare_image(self) -> tuple[Any, Client, int | None, int] | None:
        """(image layer, client, current plane or None, layer key) for a request about the selected image."""
        prep = self._prepare()
        if prep is None:
            return None
        img, _ = prep
        return img, self.client, self._current_z(img), _lid(img)

    def _server_ids(self, key: int) -> tuple[str, str]:
        """(sessionId, imageId) of an image layer, once it is on the server (runner thread)."""
        sid, iid = self.session_id, self._image_ids.get(key)
        if sid is None or iid is None:
            raise RuntimeError("image not on the server")
        return sid, iid

    def predict(self) -> None:
        """``model.predict`` for the selected image (current slice of a stack) into the prediction layer."""
        prep = self._prepare_image()
        if prep is None:
            return
        img, client, z, key = prep
        try:
            start = self._model_settings()["start"]
        except Exception:  # noqa: BLE001
            start = None
        token = self._predict_token = f"napari-predict-{next(self._predict_seq)}"
        self.progress.setRange(0, 0)
        self.progress.setFormat("predicting …")

        def work() -> Prediction:
            sid, iid = self._server_ids(key)
            if start is not None and start[0] == "file":
                self._start_w(client, sid, start)  # "Start from: file…" predicts with that model
            call = client.model_predict_async(sid, iid, z=z, progress_token=token)
            self._predict_call = call
            try:
                return decode_prediction(call.result())
            finally:
                self._predict_call = None

        def done(p: Prediction) -> None:
            if p.z is None:
                p.z = z
            n = self.show_prediction(p, img)
            self.progress.setRange(0, 1)
            self.progress.setValue(1)
            self.progress.setFormat("predicted")
            self.log(f"prediction: {n} objects (model v{p.model_version}, labels generation {p.generation})")

        def failed(e: BaseException) -> None:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("idle")
            if isinstance(e, RpcError) and e.name == "ModelNotTrained":
                self.log("no trained model yet: press Train (or Live) first")
            else:
                self.log(f"predict failed: {e}")

        self._runner.submit(work, done, failed)

    def suggest(self) -> None:
        """``model.suggest`` for the visible region of the selected image into the suggestions layer."""
        prep = self._prepare_image()
        if prep is None:
            return
        img, client, z, key = prep
        region = [int(v) for v in self.visible_region(img)]

        def work() -> dict:
            sid, iid = self._server_ids(key)
            params: dict = {"sessionId": sid, "imageId": iid, "region": region}
            if z is not None:
                params["z"] = z
            return client.call("model.suggest", params)

        def done(r: dict) -> None:
            n = self.show_suggestions(r["suggestions"], img)
            self.log(f"{n} suggestions (model v{r['modelVersion']}): press Next suggestion")

        def failed(e: BaseException) -> None:
            if isinstance(e, RpcError) and e.name == "ModelNotTrained":
                self.log("no trained model yet: press Train (or Live) first")
            else:
                self.log(f"suggest failed: {e}")

        self._runner.submit(work, done, failed)

    def show_suggestions(self, suggestions: list[dict], img: Any) -> int:
        """Show suggestions as rectangles (objects magenta, areas cyan) labeled with their reason."""
        self.suggestions = list(suggestions)
        self.suggestion_index = -1
        if SUGGESTION_LAYER in self.viewer.layers:
            self.viewer.layers.remove(self.viewer.layers[SUGGESTION_LAYER])
        if not self.suggestions:
            return 0
        n = self._spatial_ndim(img)
        rects = []
        for s in self.suggestions:
            y0, x0, y1, x1 = (float(v) for v in s["region"])
            r = np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], float)
            if n == 3:
                r = np.column_stack([np.full(4, float(s.get("z", 0))), r])
            rects.append(r)
        self.viewer.add_shapes(
            rects,
            shape_type="rectangle",
            name=SUGGESTION_LAYER,
            edge_color=["magenta" if s["kind"] == "object" else "cyan" for s in self.suggestions],
            face_color="transparent",
            edge_width=1,
            features={
                "reason": [s["reason"] for s in self.suggestions],
                "score": [float(s["score"]) for s in self.suggestions],
                "kind": [s["kind"] for s in self.suggestions],
            },
            text={"string": "{reason}", "size": 8, "color": "white", "anchor": "upper_left"},
            scale=img.scale[-n:],
            translate=img.translate[-n:],
        )
        return len(self.suggestions)

    def next_suggestion(self) -> dict | None:
        """Centre the camera on the next suggestion (best first, then round again); return it."""
        if not self.suggestions:
            self.log("no suggestions yet: press Suggest (Live mode sends them on its own)")
            return None
        self.suggestion_index = (self.suggestion_index + 1) % len(self.suggestions)
        s = self.suggestions[self.suggestion_index]
        img = next(
            (ly for ly in self._layers_of("image") if self._image_ids.get(_lid(ly)) == s["imageId"]), self.image_layer
        )
        y0, x0, y1, x1 = s["region"]
        sy, sx = (float(v) for v in img.scale[-2:])
        ty, tx = (float(v) for v in img.translate[-2:])
        if img is not None and self._spatial_ndim(img) == 3 and s.get("z") is not None:
            self.viewer.dims.set_current_step(self.viewer.dims.ndim - 3, int(s["z"]))
        self.viewer.camera.center = (ty + sy * (y0 + y1 - 1) / 2, tx + sx * (x0 + x1 - 1) / 2)
        if SUGGESTION_LAYER in self.viewer.layers:
            self.viewer.layers[SUGGESTION_LAYER].selected_data = {self.suggestion_index}
        self.log(
            f"suggestion {self.suggestion_index + 1}/{len(self.suggestions)}: {s['kind']} "
            f"({s['reason']}, score {float(s['score']):.2f})"
        )
        return s

    def cancel(self) -> None:
        """Cancel the running training / live job and an in-flight prediction (bypasses the queue)."""
        client = self.client
        if client is None:
            return
        call = self._predict_call
        if call is not None and not call.done():
            client.cancel_request(call.id)
            self.log("prediction cancelled")
        for job in (self.job_id, self.live_job_id):
            if job is not None:
                self._cancel_job(job)
        if self.live:
            self.live_btn.blockSignals(True)
            self.live_btn.setChecked(False)
            self.live_btn.blockSignals(False)

    def _cancel_job(self, job_id: str) -> None:
        client = self.client
        if client is None:
            return
        try:
            fut = client.call_async("model.cancel", {"jobId": job_id})
        except Exception as e:  # noqa: BLE001
            self.log(f"cancel failed: {e}")
            return

        def report(f: Any) -> None:
            e = f.exception()
            self._bridge.event.emit(
                {
                    "type": "_cancel",
                    "jobId": job_id,
                    "result": None if e else f.result(),
                    "error": str(e) if e else None,
                }
            )

        fut.add_done_callback(report)

    def export_model(self, path: str | None = None) -> None:
        """Save the session's model archive (``model.export``) to ``path`` (asks when None)."""
        self._export(
            path, None, "Export sparsecell model", "model.scm", "sparsecell model (*.scm);;All files (*)", "model saved"
        )

    def export_bioimageio(self, path: str | None = None, name: str | None = None) -> None:
        """Save a bioimage.io model package (``model.export {format: "bioimageio"}``: zip with rdf.yaml and ONNX
        weights; its test image is a crop of the image layer in use) to ``path`` (asks when None)."""
        image_id = self._image_ids.get(_lid(self.image_layer)) if self.image_layer is not None else None
        self._export(
            path,
            "bioimageio",
            "Export for bioimage.io",
            "model.zip",
            "bioimage.io model package (*.zip);;All files (*)",
            "bioimage.io package saved",
            imageId=image_id,
            name=name,
        )

    def _export(
        self, path: str | None, fmt: str | None, title: str, default: str, filt: str, done: str, **extra: Any
    ) -> None:
        client = self.client
        if client is None or self.session_id is None:
            self.log("nothing to export: connect and train first")
            return
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, title, default, filt)
            if not path:
                return
        sid = self.session_id

        def work() -> tuple[str, int]:
            data = client.model_export_bytes(sid, fmt, **extra)
            with open(path, "wb") as f:
                f.write(data)
            return path, len(data)

        self._submit(work, lambda r: self.log(f"{done} to {r[0]} ({r[1]} bytes)"), "model.export")

    # ---------------------------------------------------------------------------------------------------------
    # notifications (UI thread)
    # ---------------------------------------------------------------------------------------------------------
    def _on_progress(self, p: dict) -> None:
        token = p.get("token")
        self._progress_by_token[token] = p
        if len(self._progress_by_token) > 64:
            self._progress_by_token.pop(next(iter(self._progress_by_token)))
        kind, step, steps = p.get("kind"), int(p.get("step") or 0), int(p.get("steps") or 0)
        loss = p.get("loss")
        loss_txt = f" · loss {loss:.3f}" if isinstance(loss, (int, float)) else ""
        if p.get("message") and token is not None and token in (self.job_id, self.live_job_id):
            # e.g. how a starter adapted to the images (polarity, scale) before its first step
            self.log(str(p["message"]))
        if token is not None and token == self.job_id:
            if steps > 0:
                self.progress.setRange(0, steps)
                self.progress.setValue(min(step, steps))
            self.progress.setFormat(f"%v/%m{loss_txt}")
            if kind == "end":
                state = p.get("state", "done")
                err = f": {p['error']}" if p.get("error") else ""
                self.log(f"training {state} at step {step}{loss_txt}{err}")
                self.progress.setFormat(f"{state} · %v/%m{loss_txt}")
                self.job_id = None
        elif token is not None and token == self._predict_token and kind != "end":
            pct = p.get("percentage")
            if isinstance(pct, (int, float)):
                self.progress.setRange(0, 100)
                self.progress.setValue(int(pct))
                self.progress.setFormat("predicting %p%")
        elif token is not None and token == self.live_job_id:
            self.progress.setRange(0, 0)
            self.progress.setFormat(f"live · step {step}{loss_txt}")
            if kind == "end":
                self.log(f"live training {p.get('state', 'ended')} at step {step}{loss_txt}")
                self.live_job_id = None
                self.live_btn.blockSignals(True)
                self.live_btn.setChecked(False)
                self.live_btn.blockSignals(False)
                self.progress.setRange(0, 1)
                self.progress.setValue(0)
                self.progress.setFormat("idle")

    def _on_event(self, ev: Any) -> None:
        if isinstance(ev, Prediction):
            if ev.session_id != self.session_id:
                return
            img = next((ly for ly in self._layers_of("image") if self._image_ids.get(_lid(ly)) == ev.image_id), None)
            if img is None:
                return
            if ev.z is None and self._spatial_ndim(img) == 3:
                ev.z = 0
            self.prediction_updates += 1
            n = self.show_prediction(ev, img)
            self.log(f"live prediction: {n} objects in view (model v{ev.model_version}, generation {ev.generation})")
            return
        t = ev.get("type")
        if t == "_cancel":
            if ev.get("error"):
                self.log(f"cancel {ev['jobId']}: {ev['error']}")
            else:
                self.log(f"cancel {ev['jobId']}: {ev['result'].get('state')}")
        elif t == "suggestions.updated" and ev.get("sessionId") == self.session_id:
            img = next((ly for ly in self._layers_of("image") if self._image_ids.get(_lid(ly)) == ev["imageId"]), None)
            if img is not None:
                self.suggestion_updates += 1
                self.show_suggestions(ev["suggestions"], img)
        elif t == "model.updated" and ev.get("sessionId") == self.session_id:
            self.status_label.setToolTip(f"model v{ev.get('modelVersion')} (labels generation {ev.get('generation')})")
        elif t == "session.closed" and ev.get("sessionId") == self.session_id:
            self.log("session closed by the daemon")
            self._reset_session_state()

    # ---------------------------------------------------------------------------------------------------------
    # results as layers
    # ---------------------------------------------------------------------------------------------------------
    def prediction_layer(self, img: Any) -> Any:
        shape = self._spatial_shape(img)
        if PREDICTION_LAYER in self.viewer.layers:
            layer = self.viewer.layers[PREDICTION_LAYER]
            if tuple(layer.data.shape) == shape:
                return layer
            self.viewer.layers.remove(layer)
        n = len(shape)
        layer = self.viewer.add_labels(
            np.zeros(shape, np.int32),
            name=PREDICTION_LAYER,
            opacity=0.5,
            scale=img.scale[-n:],
            translate=img.translate[-n:],
        )
        layer.contour = 1
        return layer

    def show_prediction(self, p: Prediction, img: Any) -> int:
        """Paste a prediction (region, plane z) into the prediction layer; return its number of objects."""
        layer = self.prediction_layer(img)
        y0, x0, y1, x1 = (int(v) for v in p.region)
        labels = p.labels
        if labels.ndim == 3 and labels.shape[0] == 1:
            labels = labels[0]
        target = layer.data[int(p.z or 0)] if layer.ndim == 3 else layer.data
        h, w = labels.shape[-2:]
        target[y0 : y0 + h, x0 : x0 + w] = labels
        layer.refresh()
        if self.polygons_check.isChecked():
            self._show_polygons(p, img)
        return int(len(np.unique(labels)) - (1 if (labels == 0).any() else 0))

    def _show_polygons(self, p: Prediction, img: Any) -> None:
        polys = []
        for roi in p.polygons:
            pts = np.asarray(roi["points"], dtype=float)
            if len(pts) < 3:
                continue
            if self._spatial_ndim(img) == 3:
                pts = np.column_stack([np.full(len(pts), float(p.z or 0)), pts])
            polys.append(pts)
        n = self._spatial_ndim(img)
        if POLYGON_LAYER in self.viewer.layers:
            layer = self.viewer.layers[POLYGON_LAYER]
            keep = [d for d in layer.data if n == 3 and int(round(d[0, 0])) != int(p.z or 0)]
            layer.data = keep + polys
            layer.shape_type = "polygon"
        elif polys:
            self.viewer.add_shapes(
                polys,
                shape_type="polygon",
                name=POLYGON_LAYER,
                edge_color="yellow",
                face_color="transparent",
                edge_width=0.5,
                scale=img.scale[-n:],
                translate=img.translate[-n:],
            )

    # ---------------------------------------------------------------------------------------------------------
    # teardown
    # ---------------------------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop timers and the runner thread, close the connection and a daemon this widget started."""
        if self._closed:
            return
        self._closed = True
        self._flush_timer.stop()
        self._view_timer.stop()
        self._on_labels_selected()  # unhooks the labels layer's paint / data events
        for ev, cb in (
            (self.viewer.layers.events.inserted, self._on_layers_changed),
            (self.viewer.layers.events.removed, self._on_layers_changed),
            (self.viewer.layers.events.moved, self._on_layers_changed),
            (self.viewer.camera.events.center, self._on_view_changed),
            (self.viewer.camera.events.zoom, self._on_view_changed),
            (self.viewer.dims.events.current_step, self._on_view_changed),
        ):
            try:
                ev.disconnect(cb)
            except Exception:  # noqa: BLE001
                pass
        if self.client is not None:
            self.client.close()  # fails calls in flight, so the runner thread is free to stop
        self._runner.stop()
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)
