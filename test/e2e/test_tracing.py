"""Tracing end to end: `milvus-edge run` with tracing at sampling 1.0, the
edge exporting OTLP/gRPC to a real trace receiver (internal/otlpreceiver, the
official collector protos, run as a process and queried over its HTTP API).
ext_authz decides what is traced; the edge makes its own spans and, from the
call's access-log entry, the two that stand for Envoy's work (service
milvus-edge-envoy). One pymilvus search yields one trace — the server span,
the edge's ext_authz span under it with policy and validation, and Envoy's
upstream span — whose id is in that call's access-log line and decision
record."""

from __future__ import annotations

import json
import random
import re
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Dict, List

import pytest
from pymilvus import DataType, MilvusClient

import edgelib
from conftest import start_ready_edge, stop_edge

SEARCH = "/milvus.proto.milvus.MilvusService/Search"
ENVOY, EDGE = "milvus-edge-envoy", "milvus-edge"


@dataclass
class TracedEdge:
    uri: str
    receiver_url: str
    access_log: Path
    decision_log: Path


def _start_receiver(work: Path, grpc_port: int, http_port: int) -> subprocess.Popen:
    """Build and start cmd otlp-receiver; wait for its ready line."""
    binary = work / "otlp-receiver"
    subprocess.run(["go", "build", "-o", str(binary), "./internal/otlpreceiver/otlp-receiver"],
                   cwd=edgelib.REPO, check=True, timeout=300)
    proc = subprocess.Popen([str(binary), "-grpc", f"127.0.0.1:{grpc_port}", "-http", f"127.0.0.1:{http_port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    if line != "otlp-receiver ready":
        proc.kill()
        pytest.fail(f"otlp-receiver did not start: {line!r} {proc.stdout.read()}", pytrace=False)
    return proc


@pytest.fixture(scope="module")
def traced_edge(request, tmp_path_factory):
    edgelib.require_binaries()
    work = tmp_path_factory.mktemp("traced_edge")
    names = ["listener", "envoy_admin", "xds", "filters", "edge_admin", "lite", "otlp", "otlp_http"]
    ports = dict(zip(names, edgelib.free_ports(len(names))))
    receiver = _start_receiver(work, ports["otlp"], ports["otlp_http"])
    cfg = edgelib.edge_config(
        ports,
        clusters={"default": [ports["lite"]]},
        routes=[{"name": "default", "cluster": "default"}],
        lites=[(ports["lite"], work / "lite")],
    )
    cfg["clusters"][0]["rest"] = False
    cfg["listener"]["access_log"] = str(work / "access.jsonl")
    cfg["auth"] = {"decision_log": str(work / "decisions.jsonl")}
    cfg["tracing"] = {"otlp_endpoint": f"127.0.0.1:{ports['otlp']}", "sampling": 1.0}
    edge_ports = [ports[n] for n in names[:6]]
    child_ports = [ports["listener"], ports["envoy_admin"], ports["lite"]]
    needles = [str(work / "lite")]
    try:
        proc = start_ready_edge(work, cfg, request.node.nodeid, ports["listener"], edge_ports, needles)
        try:
            yield TracedEdge(f"http://127.0.0.1:{ports['listener']}", f"http://127.0.0.1:{ports['otlp_http']}",
                             work / "access.jsonl", work / "decisions.jsonl")
        finally:
            stop_edge(proc, child_ports, edge_ports, needles)
    finally:
        receiver.terminate()
        receiver.wait(10)


def _json_lines(path: Path) -> List[dict]:
    try:
        return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    except FileNotFoundError:
        return []


def _wait(what: str, timeout: float, fn):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f}s", pytrace=False)
        time.sleep(0.2)


def _ns(t: str) -> int:
    """An RFC 3339 time with up to nanoseconds (Go's JSON) in ns since the epoch."""
    m = re.match(r"^(.*?:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", t)
    assert m, t
    base = datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    return int(base.timestamp()) * 10**9 + int((m.group(2) or "0").ljust(9, "0")[:9])


def _spans(url: str, trace_id: str) -> List[dict]:
    with urllib.request.urlopen(f"{url}/v1/traces/{trace_id}", timeout=5) as r:
        return json.load(r)["spans"]


def test_pymilvus_search_is_one_trace(traced_edge):
    c = MilvusClient(uri=traced_edge.uri, token=edgelib.TOKEN, timeout=60)
    name = edgelib.unique_name("traced")
    try:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=8)
        c.create_collection(name, schema=schema, consistency_level="Strong")
        rnd = random.Random(name)
        rows = [{"id": i, "vec": [rnd.random() for _ in range(8)]} for i in range(50)]
        c.insert(name, rows)
        idx = MilvusClient.prepare_index_params()
        idx.add_index(field_name="vec", index_type="FLAT", metric_type="L2")
        c.create_index(name, idx)
        c.load_collection(name)
        before = len([l for l in _json_lines(traced_edge.access_log) if l["path"] == SEARCH])
        hits = c.search(name, data=[rows[7]["vec"]], limit=3)
        assert hits[0][0]["id"] == 7, hits
    finally:
        c.close()

    # That call's access-log line (Envoy writes the file every 10 s).
    line = _wait("the search's access-log line", 30, lambda: [
        l for l in _json_lines(traced_edge.access_log) if l["path"] == SEARCH][before:])[0]
    trace_id = line["trace_id"]
    assert len(trace_id) == 32 and trace_id != "0" * 32, line

    def complete():
        spans = _spans(traced_edge.receiver_url, trace_id)
        names = {(s["service"], s["name"]) for s in spans}
        want = {(ENVOY, SEARCH), (EDGE, "ext_authz"), (EDGE, "policy"),
                (EDGE, "validation"), (ENVOY, "router default egress")}
        return spans if want <= names else None

    spans = _wait(f"trace {trace_id} complete at the receiver", 30, complete)
    with urllib.request.urlopen(f"{traced_edge.receiver_url}/v1/tree/{trace_id}", timeout=5) as r:
        print(f"trace {trace_id}:\n{r.read().decode()}")
    by_id: Dict[str, dict] = {s["span_id"]: s for s in spans}
    roots = [s for s in spans if s["parent_id"] not in by_id]
    assert [(r["service"], r["name"], r["parent_id"]) for r in roots] == [(ENVOY, SEARCH, "")], spans

    def parent(service: str, name: str) -> tuple:
        [s] = [s for s in spans if s["service"] == service and s["name"] == name]
        p = by_id[s["parent_id"]]
        return p["service"], p["name"]

    assert parent(EDGE, "ext_authz") == (ENVOY, SEARCH)
    assert parent(EDGE, "policy") == (EDGE, "ext_authz")
    # Validation runs in ext_authz (single pass) or, for calls ext_authz
    # leaves to ext_proc (this one may be the sampled response watch, or
    # need db_name from pymilvus's dbname header), in ext_proc, under the
    # server span.
    assert parent(EDGE, "validation") in ((EDGE, "ext_authz"), (ENVOY, SEARCH)), spans
    assert parent(ENVOY, "router default egress") == (ENVOY, SEARCH)
    [server] = [s for s in spans if s["service"] == ENVOY and s["name"] == SEARCH]
    [upstream] = [s for s in spans if s["service"] == ENVOY and s["name"] == "router default egress"]
    # Made from Envoy's timings in the access-log entry: U inside S.
    ns = {k: _ns(v[k]) for v, k in [(server, "start"), (server, "end")]}
    assert ns["start"] <= _ns(upstream["start"]) <= _ns(upstream["end"]) <= ns["end"], (server, upstream)
    assert all(s["trace_id"] == trace_id for s in spans)

    # The decision log names the same trace, and the same decision as the access log.
    rec = _wait("the search's decision record", 10, lambda: [
        r for r in _json_lines(traced_edge.decision_log) if r.get("trace_id") == trace_id])[0]
    assert rec["api"] == "Search" and rec["decision_id"] == line["decision_id"], (rec, line)
