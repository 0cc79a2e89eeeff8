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
