"""The client library against a REAL daemon: every protocol method, errors, progress and events."""

from __future__ import annotations

import base64
import threading
import time

import numpy as np
import pytest

from sparsecell import (
    Client,
    ConnectionClosedError,
    ErrorCode,
    RpcError,
    decode_ndarray,
    encode_ndarray,
    offset1_to_signed,
    signed_to_offset1,
)
from sparsecell import _protocol as P

from .conftest import TINY_CONFIG, TINY_OPTIONS, sparse_offset1


def _found(truth: np.ndarray, pred: np.ndarray) -> int:
    """Number of true instances matched by a predicted instance with IoU >= 0.5."""
    n = 0
    for t in range(1, int(truth.max()) + 1):
        m = truth == t
        ids, counts = np.unique(pred[m], return_counts=True)
        n += any(i > 0 and c / (m.sum() + (pred == i).sum() - c) >= 0.5 for i, c in zip(ids, counts, strict=True))
    return n


def _session(client, nuclei, labels=True, family="stardist", **kw):
    img, inst = nuclei
    sid = client.session_create(name="test", family=family, config=TINY_CONFIG, **kw)["sessionId"]
    iid = client.image_add(sid, img, axes="YX", name="nuclei")["imageId"]
    if labels:
        client.labels_update(sid, iid, sparse_offset1(inst), encoding="offset1")
    return sid, iid


# ---- arrays (no daemon) -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "float32"])
@pytest.mark.parametrize("deflate", [False, True])
def test_ndarray_round_trip(dtype, deflate):
    a = (np.arange(60).reshape(3, 4, 5) - 7).astype(dtype)
    nd = encode_ndarray(a, deflate=deflate)
    assert nd["dtype"] == dtype and nd["shape"] == [3, 4, 5]
    assert (nd.get("encoding") == "deflate") == deflate
    b = decode_ndarray(nd)
    assert b.dtype == np.dtype(dtype) and np.array_equal(a, b)


def test_ndarray_conversions():
    assert encode_ndarray(np.ones(3, np.int64))["dtype"] == "int32"
    assert encode_ndarray(np.ones(3, bool))["dtype"] == "uint8"
    assert encode_ndarray(np.ones(3, np.float64))["dtype"] == "float32"
    big = np.array([2**40])
    with pytest.raises(ValueError):
        encode_ndarray(big)
    # big-endian input is sent little-endian
    be = np.arange(4, dtype=">u2")
    assert base64.b64decode(encode_ndarray(be)["data"]) == np.arange(4, dtype="<u2").tobytes()
    # non-contiguous views are sent in C order
    v = np.arange(16, dtype=np.uint8).reshape(4, 4)[:, 1:3]
    assert np.array_equal(decode_ndarray(encode_ndarray(v)), v)
    with pytest.raises(ValueError):
        decode_ndarray({"dtype": "uint8", "shape": [5], "data": base64.b64encode(b"abc").decode()})
    s = np.array([-1, 0, 3])
    assert np.array_equal(signed_to_offset1(s), [0, 1, 4])
    assert np.array_equal(offset1_to_signed(signed_to_offset1(s)), s)


# ---- server / sessions -------------------------------------------------------------------------------------
def test_server_info_and_discover(client):
    info = client.server_info()
    assert info["name"] == "sparsecell"
    assert set(info["families"]) == {"stardist", "cellpose", "elephant"}
    doc = client.rpc_discover()
    assert {m["name"] for m in doc["methods"]} == set(P.METHODS)


def test_session_lifecycle(client):
    r = client.session_create(name="life", family="cellpose")
    sid = r["sessionId"]
    assert r["family"] == "cellpose"
    assert sid in {s["sessionId"] for s in client.session_list()["sessions"]}
    info = client.session_get(sid)
    assert info["name"] == "life" and info["state"] == "open" and info["images"] == []
    assert client.session_close(sid) == {"closed": True, "deleted": False}
    assert client.session_close(sid, delete=True)["deleted"] is True
    with pytest.raises(RpcError) as e:
        client.session_get(sid)
    assert e.value.code == ErrorCode.SessionNotFound == -32801
    assert e.value.name == "SessionNotFound" and e.value.method == "session.get"


def test_session_not_found_everywhere(client):
    for call in (
        lambda: client.session_get("nope"),
        lambda: client.session_close("nope"),
        lambda: client.image_add("nope", np.zeros((8, 8), np.uint8)),
        lambda: client.labels_get("nope", "img1"),
        lambda: client.session_set_view("nope", "img1", [0, 0, 4, 4]),
    ):
        with pytest.raises(RpcError) as e:
            call()
        assert e.value.code == -32801


def test_invalid_params_carry_paths(daemon):
    c = Client.connect(daemon)  # no client-side validation: let the daemon judge
    try:
        sid = c.session_create()["sessionId"]
        with pytest.raises(RpcError) as e:
            c.call(
                "labels.update",
                {
                    "sessionId": sid,
                    "imageId": "img1",
                    "encoding": "bogus",
                    "labels": encode_ndarray(np.zeros((2, 2), np.uint8)),
                },
            )
        assert e.value.code == ErrorCode.InvalidParams == -32602
        assert "/encoding" in [i["path"] for i in e.value.issues]
        with pytest.raises(RpcError) as e:
            c.call("session.create", {"family": "unet", "extra": 1})
        paths = {i["path"] for i in e.value.issues}
        assert "/family" in paths
        with pytest.raises(RpcError) as e:
            c.call("no.such.method", {})
        assert e.value.code == ErrorCode.MethodNotFound
    finally:
        c.close()


def test_client_side_validation(client):
    from sparsecell._validate import ProtocolError

    with pytest.raises(ProtocolError) as e:
        client.call("session.setView", {"sessionId": "s", "imageId": "i", "region": [0, 0, 1]})
    assert e.value.issues[0][0] == "/region"


# ---- images and labels ------------------------------------------------------------------------------------------
def test_labels_patches_and_encodings(client, nuclei):
    img, inst = nuclei
    sid, iid = _session(client, nuclei, labels=False)
    r = client.labels_get(sid, iid)
    assert r.encoding == "signed" and (r.labels == -1).all() and r.generation == 0
    patch = np.zeros((10, 12), np.uint16)
    patch[:5] = 1
    patch[5:, 6:] = 2
    u = client.labels_update(sid, iid, patch, origin=[3, 4])
    assert (
        u["generation"] == 1
        and u["counts"] == {"unlabeled": 64 * 64 - 50 - 30, "background": 60, "objects": 1}
        or u["counts"]["objects"] == 1
    )
    g = client.labels_get(sid, iid, encoding="offset1")
    assert g.encoding == "offset1"
    assert np.array_equal(g.labels[3:13, 4:16], patch)
    assert g.labels.sum() == patch.sum()
    # raw (not deflated) full layer in signed form
    signed = offset1_to_signed(sparse_offset1(inst))
    u2 = client.labels_update(sid, iid, signed, encoding="signed", deflate=False)
    assert u2["generation"] == 2
    assert np.array_equal(client.labels_get(sid, iid).labels, signed)
    info = client.session_get(sid)
    assert info["generation"] == 2 and info["images"][0]["counts"] == u2["counts"]


def test_stack_patch_origin_zyx(client):
    sid = client.session_create(name="stack")["sessionId"]
    stack = np.random.default_rng(0).integers(0, 255, (3, 32, 32), dtype=np.uint8)
    r = client.image_add(sid, stack, axes="ZYX")
    assert r["shape"] == [3, 32, 32] and r["axes"] == "ZYX"
    patch = np.full((1, 4, 5), 3, np.uint16)
    client.labels_update(sid, r["imageId"], patch, origin=[1, 2, 3])
    lab = client.labels_get(sid, r["imageId"], encoding="offset1").labels
    assert lab.shape == (3, 32, 32)
    assert (lab[1, 2:6, 3:8] == 3).all() and lab.sum() == 3 * 20


def test_image_and_label_errors(client, nuclei):
    sid, iid = _session(client, nuclei, labels=False)
    with pytest.raises(RpcError) as e:
        client.labels_get(sid, "img999")
    assert e.value.code == ErrorCode.ImageNotFound
    with pytest.raises(RpcError) as e:  # patch does not fit
        client.labels_update(sid, iid, np.ones((10, 10), np.uint16), origin=[60, 60])
    assert e.value.code == ErrorCode.ShapeMismatch
    with pytest.raises(RpcError) as e:  # full layer of the wrong shape
        client.labels_update(sid, iid, np.ones((8, 8), np.uint16))
    assert e.value.code == ErrorCode.ShapeMismatch
    with pytest.raises(RpcError) as e:  # below -1 in signed form
        client.labels_update(sid, iid, np.full((4, 4), -5, np.int16), encoding="signed", origin=[0, 0])
    assert e.value.code == ErrorCode.InvalidLabels
    with pytest.raises(RpcError) as e:
        client.labels_update(sid, iid, np.ones((4, 4), np.float32), origin=[0, 0])
    assert e.value.code == ErrorCode.InvalidLabels
    with pytest.raises(RpcError) as e:
        client.image_add(sid, b"not a tiff")
    assert e.value.code == ErrorCode.InvalidImage
    with pytest.raises(RpcError) as e:
        client.session_set_view(sid, iid, [0, 0, 100, 100])
    assert e.value.code == ErrorCode.ShapeMismatch
    assert client.session_set_view(sid, iid, [0, 0, 32, 32]) == {"ok": True}


# ---- model methods ---------------------------------------------------------------------------------------------
def test_model_errors_before_training(client, nuclei):
    sid, iid = _session(client, nuclei)
    with pytest.raises(RpcError) as e:
        client.model_predict(sid, iid)
    assert e.value.code == ErrorCode.ModelNotTrained
    with pytest.raises(RpcError) as e:
        client.model_export(sid)
    assert e.value.code == ErrorCode.ModelNotTrained
    with pytest.raises(RpcError) as e:
        client.model_cancel("jobdoesnotexist")
    assert e.value.code == ErrorCode.JobNotFound
    with pytest.raises(RpcError) as e:
        client.model_import(sid, b"SCM1 this is no model")
    assert e.value.code == ErrorCode.InvalidModel
    r = client.model_configure(sid, {"learningRate": 0.002})
    assert r["options"]["learningRate"] == 0.002


def test_train_progress_predict_export_import(client, nuclei):
    sid, iid = _session(client, nuclei)
    seen: list[dict] = []
    models: list[dict] = []
    client.on_progress(seen.append)
    client.on_event(lambda ev: models.append(ev) if ev["type"] == "model.updated" else None)
    job = client.model_train(sid, steps=10, options=TINY_OPTIONS)["jobId"]
    end = client.wait_for_progress_end(job, timeout=120)
    assert end["state"] == "done" and end["step"] == 10
    mine = [p for p in seen if p["token"] == job]
    assert mine[0]["kind"] == "begin" and mine[-1]["kind"] == "end"
    steps = [p["step"] for p in mine if p["kind"] == "report"]
    assert steps and steps == sorted(steps) and steps[-1] == 10
    assert all(isinstance(p["loss"], float) for p in mine if p["kind"] == "report")
    info = client.session_get(sid)
    assert info["modelVersion"] >= 1 and any(j["jobId"] == job and j["state"] == "done" for j in info["jobs"])

    pred = client.model_predict(sid, iid)
    assert pred.labels.shape == (64, 64) and pred.labels.dtype == np.int32
    assert pred.region == [0, 0, 64, 64] and pred.model_version >= 1
    part = client.model_predict(sid, iid, region=[0, 0, 32, 48], prob_thresh=0.5, nms_thresh=0.3)
    assert part.labels.shape == (32, 48)

    # export/import must give the same prediction; 10 steps find little, so first train until the model finds objects
    inst = nuclei[1]
    client.labels_update(sid, iid, (inst + 1).astype(np.uint16), encoding="offset1")
    more = client.model_train(sid, steps=120, options={"patchSize": 64, "batchSize": 4, "learningRate": 3e-3})["jobId"]
    assert client.wait_for_progress_end(more, timeout=120)["state"] == "done"
    pred = client.model_predict(sid, iid)
    assert _found(inst, pred.labels) >= (inst.max() + 1) // 2, (
        f"{_found(inst, pred.labels)} of {inst.max()} nuclei found"
    )

    exported = client.model_export(sid)
    assert exported["family"] == "stardist" and exported["bytes"] == len(base64.b64decode(exported["model"]))
    sid2 = client.session_create(name="imported", family="stardist", config=TINY_CONFIG)["sessionId"]
    iid2 = client.image_add(sid2, nuclei[0])["imageId"]
    imp = client.model_import(sid2, client.model_export_bytes(sid))
    assert imp["family"] == "stardist"
    again = client.model_predict(sid2, iid2)
    assert np.array_equal(again.labels, pred.labels)


def test_cancel_training_and_request(client, nuclei):
    sid, iid = _session(client, nuclei)
    job = client.model_train(sid, steps=100000, options=TINY_OPTIONS)["jobId"]
    with pytest.raises(RpcError) as e:  # one training per session
        client.model_train(sid, steps=5)
    assert e.value.code == ErrorCode.SessionBusy
    time.sleep(0.3)
    r = client.model_cancel(job)
    assert r["cancelled"] is True
    end = client.wait_for_progress_end(job, timeout=60)
    assert end["state"] == "cancelled"
    assert client.model_cancel(job)["cancelled"] is False
    # $/cancelRequest on an in-flight prediction: it answers -32800, or it had already finished
    call = client.model_predict_async(sid, iid)
    client.cancel_request(call.id)
    try:
        call.result(60)
    except RpcError as e:
        assert e.code == ErrorCode.RequestCancelled
    assert client.server_info()["name"] == "sparsecell"  # the connection is still fine


def test_live_pushes_prediction_updates(own_daemon, nuclei):
    img, inst = nuclei
    client = Client.connect(own_daemon, validate=True)
    sid, iid = _session(client, nuclei)
    got = threading.Event()
    preds = []

    def on_pred(p):
        preds.append(p)
        got.set()

    client.on_prediction(on_pred)
    client.session_set_view(sid, iid, [0, 0, 64, 64])
    job = client.model_train(sid, live=True, options=TINY_OPTIONS)["jobId"]
    try:
        assert got.wait(30), (
            f"no prediction.updated within 30 s of live training (last progress: {client.last_progress(job)})"
        )
        got.clear()
        gen = client.labels_update(sid, iid, (inst[:, 40:] + 1).astype(np.uint16), origin=[0, 40])["generation"]
        assert got.wait(30), "no prediction.updated after a label update"
        p = preds[-1]
        assert p.session_id == sid and p.image_id == iid and p.region == [0, 0, 64, 64]
        assert p.labels.shape == (64, 64)
        deadline = time.time() + 30
        while preds[-1].generation < gen and time.time() < deadline:
            time.sleep(0.1)
        assert preds[-1].generation >= gen
    finally:
        try:
            client.call("model.cancel", {"jobId": job}, timeout=10)
        except Exception as e:  # noqa: BLE001 - do not hide the first failure
            print(f"model.cancel of the live job failed: {e!r}")
    try:
        assert client.wait_for_progress_end(job, 30)["state"] in ("cancelled", "done")
    finally:
        client.close()


def test_close_fails_pending_and_later_calls(daemon):
    c = Client.connect(daemon)
    closed = []
    c.on_close(closed.append)
    c.close()
    assert c.closed and closed == ["closed by client"] and c.close_reason == "closed by client"
    with pytest.raises(ConnectionClosedError):
        c.server_info()


def test_daemon_exit_fails_waiting_calls(tmp_path_factory):
    from .conftest import start_test_daemon

    d = start_test_daemon(tmp_path_factory)
    c = Client.connect(d.url)
    reasons = []
    gone = threading.Event()
    c.on_close(lambda r: (reasons.append(r), gone.set()))
    try:
        sid = c.session_create()["sessionId"]
        d.stop(timeout=5)  # SIGTERM: the daemon closes the socket
        assert gone.wait(10) and c.closed and reasons
        with pytest.raises(ConnectionClosedError):
            c.session_get(sid)
        with pytest.raises(ConnectionClosedError):
            c.wait_for_progress_end("job-x", timeout=1)
    finally:
        c.close()
        d.stop()


def test_token_is_sent_as_bearer_header(tmp_path_factory):
    from .conftest import start_test_daemon

    d = start_test_daemon(tmp_path_factory, ["--token", "s3cret-token"])
    try:
        with pytest.raises(ConnectionRefusedError, match="401"):
            Client.connect(d.url)
        with pytest.raises(ConnectionRefusedError, match="401"):
            Client.connect(d.url, token="wrong-token")
        with Client.connect(d.url, token="s3cret-token") as c:
            assert c.server_info()["name"] == "sparsecell"
    finally:
        d.stop(timeout=5)


def test_package_needs_neither_napari_nor_qt():
    import subprocess
    import sys

    code = (
        "import sys, sparsecell as c; "
        "bad = [m for m in ('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6') if m in sys.modules]; "
        "assert not bad, bad; assert c.Client and c.AsyncClient"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
