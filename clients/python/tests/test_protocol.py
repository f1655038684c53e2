"""The generated Python protocol module is current, and every wire fixture parses with its types."""

from __future__ import annotations

import importlib.util
import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from sparsecell import AsyncClient, Client, decode_ndarray, decode_prediction
from sparsecell import _protocol as P
from sparsecell._validate import ProtocolError, parse, parse_message, validate

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "protocol" / "examples").glob("*.json"))
GEN = REPO / "clients" / "python" / "scripts" / "gen_protocol.py"


def _gen_module():
    spec = importlib.util.spec_from_file_location("gen_protocol", GEN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_protocol_is_current():
    gen = _gen_module()
    fresh = gen.generate()
    current = Path(P.__file__).read_text(encoding="utf-8")
    assert current == fresh, "src/sparsecell/_protocol.py is stale: run python clients/python/scripts/gen_protocol.py"
    assert current.startswith("# GENERATED") and "DO NOT EDIT" in current.splitlines()[1]


def test_methods_and_errors_cover_the_protocol():
    openrpc = json.loads((REPO / "protocol" / "openrpc.json").read_text())
    assert [m["name"] for m in openrpc["methods"]] == list(P.METHODS)
    assert {e["code"] for e in openrpc["components"]["errors"].values()} == {int(c) for c in P.ErrorCode}
    assert P.ErrorCode.SessionNotFound == -32801 and P.ErrorCode.InvalidImage == -32810
    assert P.METHODS["model.train"].progress is True
    # the client has one typed method per protocol method
    names = {n for n, _ in inspect.getmembers(Client, inspect.isfunction)}
    for m in P.METHODS:
        py = "_".join(p for p in "".join("_" + c.lower() if c.isupper() else c for c in m).split("."))
        assert py in names, f"Client lacks {py}() for {m}"


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).replace(".", "_")


@pytest.mark.parametrize("method", list(P.METHODS))
def test_typed_methods_take_every_param_of_the_protocol(method):
    """A field added to a method's params in protocol/src shows up here until the typed method takes it."""
    sig = inspect.signature(getattr(Client, _snake(method)))
    names = set(sig.parameters)
    takes_more = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    kind, fields, *_ = P.SPECS[P.METHODS[method].params]
    assert kind == "obj"
    missing = [f for f in fields if {"from": "start_from"}.get(f, _snake(f)) not in names]
    assert not missing or takes_more, f"Client.{_snake(method)}() lacks {missing}"
    assert set(inspect.signature(getattr(AsyncClient, _snake(method))).parameters) == names  # one set of methods


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_parses(path):
    msg = json.loads(path.read_text())
    name = path.name
    if name.endswith(".response.json"):
        method = name[: -len(".response.json")]
        type_name, result = parse_message({"method": method, **msg})
        assert type_name == P.METHODS[method].result
    else:
        type_name, payload = parse_message(msg)
        if "error" in msg:
            for issue in payload["data"]:
                assert set(issue) == {"path", "message"}
            assert payload["code"] == P.ErrorCode.InvalidParams
        elif name.endswith(".request.json"):
            assert type_name == P.METHODS[msg["method"]].params
        else:
            assert type_name == P.NOTIFICATIONS[msg["method"]]


def test_example_arrays_decode():
    def load(n):
        return json.loads((REPO / "protocol" / "examples" / n).read_text())

    got = load("labels.get.response.json")["result"]
    labels = decode_ndarray(got["labels"])
    counts = got["counts"]
    assert labels.shape == (4, 4)
    assert (labels == -1).sum() == counts["unlabeled"] and (labels == 0).sum() == counts["background"]
    assert len(np.unique(labels[labels > 0])) == counts["objects"]
    upd = load("labels.update.request.json")["params"]
    off1 = decode_ndarray(upd["labels"])
    assert off1.dtype == np.uint16 and np.array_equal(off1.astype(np.int32) - 1, labels)
    pred = decode_prediction(load("model.predict.response.json")["result"])
    assert pred.labels.shape == (4, 4) and pred.polygons[0]["id"] in np.unique(pred.labels)
    ev = decode_prediction(load("event.prediction-updated.notification.json")["params"])
    assert ev.session_id == "sdemo0001" and ev.image_id == "img1"


def test_validator_rejects_bad_values():
    assert validate("Counts", {"unlabeled": 1, "background": 2, "objects": 3}) == []
    issues = validate("Counts", {"unlabeled": -1, "background": "2", "extra": 1})
    paths = {p for p, _ in issues}
    assert {"/unlabeled", "/background", "/objects", "/extra"} <= paths
    with pytest.raises(ProtocolError):
        parse("NdArray", {"dtype": "float64", "shape": [1], "data": ""})
    with pytest.raises(ProtocolError):
        parse("Region", [0, 0, 1])
    with pytest.raises(ProtocolError):
        parse("SessionCreateParams", {"family": "unet"})
    assert parse("EventNotification", {"type": "model.updated", "sessionId": "s"})
    with pytest.raises(ProtocolError):
        parse_message({"jsonrpc": "2.0", "method": "no.such", "params": {}})
