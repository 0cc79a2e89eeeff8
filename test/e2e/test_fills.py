"""Schema fills against the real Milvus standalone with authentication on: the
edge fetches each collection's schema with the cluster's credential, once per
TTL, and the backend's own metrics count it."""

from __future__ import annotations

import base64
import json
import re
import urllib.request

import grpc
from pymilvus import MilvusClient
from pymilvus.grpc_gen import milvus_pb2, milvus_pb2_grpc


def _describe_count(metrics_url: str) -> int:
    """DescribeCollection calls the standalone's Proxy has served (its own
    Prometheus counter, status="total")."""
    with urllib.request.urlopen(metrics_url.rstrip("/") + "/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(
        r'^milvus_proxy_req_count\{function_name="DescribeCollection",node_id="\d+",status="total"\} (\d+)',
        text, re.M)
    return int(m.group(1)) if m else 0


def _status(admin_url: str) -> dict:
    with urllib.request.urlopen(admin_url + "/v1/status", timeout=10) as r:
        return json.loads(r.read())["schema_cache"]


def test_one_describe_per_collection_per_ttl(standalone_edge):
    """30 validated calls on a collection cost the backend one
    DescribeCollection (the edge's fill, with the cluster credential); the
    schema cache counts hits and no fill errors. The calls are raw gRPC, so
    no client-side DescribeCollection is counted."""
    e = standalone_edge
    client = MilvusClient(uri=e.uri, token=e.token)
    name = "fills_once"
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(name, dimension=8)
    before_status = _status(e.edge_admin_url)
    before = _describe_count(e.metrics_url)
    auth = [("authorization", base64.b64encode(e.token.encode()).decode())]
    with grpc.insecure_channel(e.listener) as ch:
        stub = milvus_pb2_grpc.MilvusServiceStub(ch)
        for _ in range(30):
            r = stub.Query(milvus_pb2.QueryRequest(collection_name=name, expr="id >= 0",
                                                   output_fields=["id"]),
                           metadata=auth, timeout=30)
            assert r.status.code == 0, r.status
    after = _describe_count(e.metrics_url)
    st = _status(e.edge_admin_url)
    client.drop_collection(name)
    assert after - before == 1, f"the backend served {after - before} DescribeCollection for 30 calls"
    assert st["FillErrors"] == before_status["FillErrors"] == 0, st
    assert st["Hits"] - before_status["Hits"] >= 29, st
