"""Authentication at the edge: bad or missing credentials are refused with Milvus's
own UNAUTHENTICATED errors, and no request reaches a backend."""

import base64

import grpc
import pytest
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException
from pymilvus.grpc_gen import milvus_pb2, milvus_pb2_grpc

import edgelib
from edgelib import TOKEN

MISSING = "missing authorization in header"
BAD = "auth check failure, please check username and password are correct"


def _rpc_errors(exc):
    """exc and its causes/contexts that are grpc.RpcErrors."""
    seen, out = set(), []
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, grpc.RpcError):
            out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def _assert_unauthenticated(excinfo, message):
    exc = excinfo.value
    errs = _rpc_errors(exc)
    assert errs, f"no grpc.RpcError in the exception chain of {type(exc).__name__}: {exc!r}"
    codes = [(e.code(), e.details()) for e in errs]
    assert any(c == grpc.StatusCode.UNAUTHENTICATED and message in (d or "") for c, d in codes), (
        f"want UNAUTHENTICATED with {message!r}; got {codes} from {exc!r}"
    )


def _client_call(uri, **auth):
    """Connect as pymilvus does and make one call; whichever step fails raises."""
    c = MilvusClient(uri=uri, timeout=10, **auth)
    try:
        c.has_collection("auth_probe_never_created", timeout=10)
    finally:
        c.close()


def _counters(edge):
    return {c: edgelib.upstream_rq_total(edge.envoy_admin_url, c) for c in ("a", "b")}


def _b64(s):
    return base64.b64encode(s.encode()).decode()


def test_missing_and_wrong_credentials(edge):
    before = _counters(edge)

    # pymilvus: MilvusClient's constructor sends Connect; a refusal there surfaces as
    # MilvusException(CONNECT_FAILED) whose __cause__ is the grpc.RpcError.
    with pytest.raises((MilvusException, grpc.RpcError)) as ei:
        _client_call(edge.uri)
    _assert_unauthenticated(ei, MISSING)

    with pytest.raises((MilvusException, grpc.RpcError)) as ei:
        _client_call(edge.uri, token="root:wrong-password")
    _assert_unauthenticated(ei, BAD)

    with pytest.raises((MilvusException, grpc.RpcError)) as ei:
        _client_call(edge.uri, user="nobody", password="Milvus")
    _assert_unauthenticated(ei, BAD)

    # Raw gRPC, no SDK in between.
    with grpc.insecure_channel(edge.listener) as ch:
        stub = milvus_pb2_grpc.MilvusServiceStub(ch)
        cases = [
            (None, MISSING),
            ([("authorization", _b64("root:wrong-password"))], BAD),
            ([("authorization", _b64("nobody:Milvus"))], BAD),
        ]
        for md, msg in cases:
            with pytest.raises(grpc.RpcError) as ei:
                stub.GetVersion(milvus_pb2.GetVersionRequest(), metadata=md, timeout=10)
            e = ei.value
            assert e.code() == grpc.StatusCode.UNAUTHENTICATED, (md, e.code(), e.details())
            assert msg in (e.details() or ""), (md, e.details())

    after = _counters(edge)
    assert after == before, f"refused requests reached a backend: {before} -> {after}"

    # Control: the same counters do move for an authenticated request, on the
    # cluster its route names (otherwise "unchanged" above would prove nothing).
    with grpc.insecure_channel(edge.listener) as ch:
        stub = milvus_pb2_grpc.MilvusServiceStub(ch)
        r = stub.GetVersion(milvus_pb2.GetVersionRequest(),
                            metadata=[("authorization", _b64(TOKEN))], timeout=10)
        assert r.status.code == 0 and r.version, r
    ok = MilvusClient(uri=edge.uri, token=TOKEN)
    try:
        mid = _counters(edge)
        assert ok.has_collection("auth_probe_default") is False
        assert ok.has_collection("tenant_a_auth_probe") is False
        end = _counters(edge)
    finally:
        ok.close()
    assert end["b"] > mid["b"], f"default-route call not counted on b: {mid} -> {end}"
    assert end["a"] > mid["a"], f"tenant_a_* call not counted on a: {mid} -> {end}"
