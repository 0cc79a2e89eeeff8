"""The edge in front of a real Milvus standalone (PyPI milvus==2.3.5, auth on),
launched by `milvus-edge run` (the `standalone_edge` session fixture)."""

from __future__ import annotations

import random
import re
import uuid

import grpc
import pytest
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException
from pymilvus.grpc_gen import milvus_pb2, milvus_pb2_grpc

import edgelib

DIM = 8


def _proxy_calls(metrics_url: str, function: str) -> int:
    """Calls the standalone's own Proxy counted for `function` (status="total")."""
    text = edgelib.http_get(metrics_url + "/metrics", timeout=10)
    m = re.search(r'^milvus_proxy_req_count\{function_name="%s",node_id="\d+",status="total"\} (\d+)'
                  % function, text, re.M)
    return int(m.group(1)) if m else 0


def test_crud_through_the_edge(standalone_edge):
    """Create, insert, search, query and drop on the standalone through the
    edge; the calls reach Milvus's own Proxy (its metrics count them)."""
    se = standalone_edge
    name = "standalone_crud_" + uuid.uuid4().hex[:8]
    before = _proxy_calls(se.metrics_url, "Search")
    c = MilvusClient(uri=se.uri, token=se.token, timeout=60)
    try:
        c.create_collection(name, dimension=DIM)
        assert name in c.list_collections()
        rng = random.Random(7)
        rows = [{"id": i, "vector": [rng.random() for _ in range(DIM)]} for i in range(20)]
        assert c.insert(name, rows)["insert_count"] == 20
        hits = c.search(name, data=[rows[3]["vector"]], limit=3, consistency_level="Strong")
        assert len(hits) == 1 and len(hits[0]) == 3, hits
        assert hits[0][0]["id"] == 3, hits
        got = c.query(name, filter="id in [1, 2]", output_fields=["id"], consistency_level="Strong")
        assert sorted(r["id"] for r in got) == [1, 2]
        c.drop_collection(name)
        assert name not in c.list_collections()
    finally:
        if c.has_collection(name):
            c.drop_collection(name)
        c.close()
    assert _proxy_calls(se.metrics_url, "Search") > before, "the search did not reach Milvus's Proxy"


def test_milvus_itself_refuses_calls_without_credentials(standalone_edge):
    """Authorization is really on in the standalone: a direct call (bypassing
    the edge) without credentials, or with a wrong password, is refused by
    Milvus; root's call works."""
    se = standalone_edge
    target = se.direct_uri.removeprefix("http://")
    with grpc.insecure_channel(target) as ch:
        stub = milvus_pb2_grpc.MilvusServiceStub(ch)
        with pytest.raises(grpc.RpcError) as e:
            stub.ShowCollections(milvus_pb2.ShowCollectionsRequest(), timeout=30)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED, e.value
    with pytest.raises(MilvusException):
        MilvusClient(uri=se.direct_uri, token="root:wrong", timeout=30).list_collections()
    root = MilvusClient(uri=se.direct_uri, token=se.token, timeout=30)
    try:
        assert "root" in root.list_users()
    finally:
        root.close()


def test_collection_property_limit(standalone_edge):
    """A query limit set with alter_collection_properties through the edge on
    the real Milvus is read back by the edge (DescribeCollection with its own
    credential) and enforced by it: code 8 with Milvus's reason, counted in
    the edge's refusals; raising it lifts it (Milvus 2.3 cannot drop a
    property)."""
    import json
    import time

    se = standalone_edge
    name = "standalone_rl_" + uuid.uuid4().hex[:8]
    c = MilvusClient(uri=se.uri, token=se.token, timeout=60)

    def refused() -> int:
        st = json.loads(edgelib.http_get(se.edge_admin_url + "/v1/status"))
        return sum(x["refused"] for x in st["rate_limit"]["counts"] or []
                   if x["scope"] == "collection" and x["rate_type"] == "DQLQuery")

    def first_refusal(seconds: float):
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            try:
                c.query(name, filter="id >= 0", limit=1, retry_on_rate_limit=False)
            except MilvusException as ex:
                return ex
            time.sleep(0.02)
        return None

    try:
        c.create_collection(name, dimension=DIM)
        c.insert(name, [{"id": i, "vector": [0.1 * i] * DIM} for i in range(10)])
        assert first_refusal(0.5) is None
        before = refused()
        c.alter_collection_properties(name, properties={"collection.queryRate.max.qps": "2"})
        with edgelib.quiet_logger("pymilvus"):
            ex = first_refusal(2.0)
        assert ex is not None, "the property's limit was not enforced within 2 s"
        assert ex.code == 8
        assert ex.message == ("request is rejected by grpc RateLimiter middleware, please retry later: "
                              "rate limit exceeded[rate=2]")
        assert refused() > before, "the refusal was not the edge's"
        c.alter_collection_properties(name, properties={"collection.queryRate.max.qps": "1000"})
        time.sleep(1.1)
        assert first_refusal(1.0) is None, "still limited after the property was raised"
    finally:
        try:
            c.drop_collection(name)
        finally:
            c.close()
