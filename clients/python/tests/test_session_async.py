"""Sessions as context managers, training with a tqdm bar, errors as classes, and the asyncio client, against a
REAL daemon."""

from __future__ import annotations

import asyncio
import io
import re

import numpy as np
import pytest

from sparsecell import AsyncClient, Client, RpcError, errors, synthetic_nuclei

from .conftest import TINY_CONFIG, TINY_OPTIONS, sparse_offset1


def test_session_context_manager_train_with_bar_and_predict(daemon, nuclei):
    img, inst = nuclei
    with Client.connect(daemon, validate=True) as c:
        with c.session(name="ctx", family="stardist", config=TINY_CONFIG, delete=True) as s:
            assert s.id and c.session_get(s.id)["name"] == "ctx"
            iid = s.add_image(img, name="nuclei")
            assert isinstance(iid, str)
            upd = s.update_labels(iid, sparse_offset1(inst))
            assert upd["counts"]["objects"] > 0 and upd["counts"]["background"] > 0
            got = s.labels(iid)
            assert got.labels.dtype == np.int32 and np.array_equal(
                got.labels, sparse_offset1(inst).astype(np.int32) - 1
            )
            bar = io.StringIO()
            end = s.train(steps=12, options=TINY_OPTIONS, progress={"file": bar, "mininterval": 0})
            assert end["kind"] == "end" and end["state"] == "done" and end["token"]
            text = bar.getvalue()
            assert "12/12" in text and re.search(r"loss=\d+\.\d{4}", text), text
            pred = s.predict(iid)
            assert pred.labels.shape == img.shape and pred.labels.dtype == np.int32 and pred.model_version >= 1
            sid = s.id
        assert s.closed
        with pytest.raises(errors.SessionNotFoundError):  # delete=True removed it from the store
            c.session_get(sid)
        # without delete, leaving the block closes the session and keeps it on disk
        with c.session(name="kept") as s2:
            pass
        assert c.session_get(s2.id)["name"] == "kept"
        with c.session(session_id=s2.id, delete=True) as again:  # reopen by id
            assert again.info()["sessionId"] == s2.id
        with pytest.raises(errors.SessionNotFoundError):
            c.session_get(s2.id)


def test_starter_session_predicts_and_max_objects_truncates(daemon):
    img, truth = synthetic_nuclei((128, 128), n=14, seed=5)
    with Client.connect(daemon, validate=True) as c, c.session(starter="nuclei", delete=True) as s:
        assert s.info()["starter"] == "nuclei"
        iid = s.add_image(img)
        full = s.predict(iid)  # zero-shot: the committed StarDist-like starter, before any training
        n = len(np.unique(full.labels)) - 1
        assert n >= 10 and len(full.polygons) == n and not full.truncated, n
        few = s.predict(iid, max_objects=2)
        assert few.truncated and len(few.polygons) == 2 and len(np.unique(few.labels)) - 1 == 2
        best = sorted(full.polygons, key=lambda p: -p["score"])[:2]
        assert sorted(p["score"] for p in few.polygons) == pytest.approx(sorted(p["score"] for p in best))


def test_train_without_bar_prints_nothing(daemon, nuclei, capsys):
    img, inst = nuclei
    with Client.connect(daemon) as c, c.session(config=TINY_CONFIG, delete=True) as s:
        iid = s.add_image(img)
        s.update_labels(iid, sparse_offset1(inst))
        assert s.train(steps=3, options=TINY_OPTIONS, progress=False)["state"] == "done"
    out = capsys.readouterr()
    assert "training" not in out.err and "training" not in out.out


def test_errors_are_classes_named_after_their_codes(daemon):
    client = Client.connect(daemon)  # no client-side validation: the daemon judges the params
    with pytest.raises(errors.SessionNotFoundError) as e:
        client.session_get("no-such-session")
    assert isinstance(e.value, RpcError) and e.value.code == -32801 and e.value.name == "SessionNotFound"
    assert e.value.method == "session.get"
    sid = client.session_create(name="errors")["sessionId"]
    with pytest.raises(errors.InvalidParamsError) as e:
        client.call("model.train", {"sessionId": sid, "steps": -3})
    assert e.value.field == "/steps" and e.value.fields == ["/steps"] and "/steps" in str(e.value)
    with pytest.raises(errors.ModelNotTrainedError):
        client.call("model.export", {"sessionId": sid})
    # every protocol code has its class; a code the protocol does not list stays a plain RpcError
    for code in errors.ErrorCode:
        cls = errors.error_class(code)
        assert cls is not RpcError and cls.__name__ == f"{code.name}Error" and issubclass(cls, RpcError)
    assert errors.error_class(-1) is RpcError
    client.session_close(sid, delete=True)
    client.close()


def test_asyncio_client_session_training_progress_and_errors(daemon, nuclei):
    img, inst = nuclei

    async def main():
        async with await AsyncClient.connect(daemon, validate=True) as ac:
            infos = await asyncio.gather(*(ac.server_info() for _ in range(5)))  # concurrent calls on one socket
            assert {i["name"] for i in infos} == {"sparsecell"}
            async with ac.session(name="async", family="stardist", config=TINY_CONFIG, delete=True) as s:
                iid = await s.add_image(img)
                upd = await s.update_labels(iid, sparse_offset1(inst))
                assert upd["generation"] == 1
                job = (await ac.model_train(s.id, steps=10, options=TINY_OPTIONS))["jobId"]
                seen = [p async for p in ac.progress(job)]
                assert seen[-1]["kind"] == "end" and seen[-1]["state"] == "done"
                # reports are rate-limited in time, so a quick 10-step run may send only one: at least one, in order
                reports = [p.get("percentage", 0) for p in seen if p["kind"] == "report"]
                assert reports and reports == sorted(reports), seen
                bar = io.StringIO()
                end = await s.train(steps=6, options=TINY_OPTIONS, progress={"file": bar, "mininterval": 0})
                assert end["state"] == "done" and "6/6" in bar.getvalue()
                pred = await s.predict(iid)
                assert pred.labels.shape == img.shape and pred.model_version >= 2
                labels = await s.labels(iid, encoding="offset1")
                assert labels.encoding == "offset1" and labels.labels.max() == inst[:, :40].max() + 1
                sid = s.id
                with pytest.raises(errors.ImageNotFoundError):
                    await s.predict("no-such-image")
            with pytest.raises(errors.SessionNotFoundError):
                await ac.session_get(sid)
        assert ac.closed

    asyncio.run(main())


def test_asyncio_cancelling_a_training_task_cancels_the_job(daemon, nuclei):
    img, inst = nuclei

    async def main():
        async with await AsyncClient.connect(daemon) as ac, ac.session(config=TINY_CONFIG, delete=True) as s:
            iid = await s.add_image(img)
            await s.update_labels(iid, sparse_offset1(inst))
            jobs: list[str] = []
            ac.on_progress(lambda p: jobs.append(p["token"]) if p["kind"] == "report" else None)
            task = asyncio.create_task(s.train(time_limit_s=300, options=TINY_OPTIONS, progress=False))
            for _ in range(600):
                if jobs:
                    break
                await asyncio.sleep(0.05)
            assert jobs, "no progress report within 30 s"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # the job itself stops (model.cancel), well before its 300 s budget, while the session is still open
            end = await ac.wait_for_progress_end(jobs[0], timeout=60)
            assert end["state"] == "cancelled"

    asyncio.run(main())
