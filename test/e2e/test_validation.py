"""Schema-aware request validation in ext_proc, end to end: real pymilvus, real
Envoy, real milvus-lite. A request the edge refuses gets Milvus's typed answer
(gRPC OK, a status with the Milvus code and reason) and never reaches the
backend (Envoy's cluster.default.upstream_rq_total does not move).

One module-scoped stack: cluster `default`, one milvus-lite, schema_ttl 2s."""

from __future__ import annotations

import base64
import json
import time
import urllib.request

import grpc
import pytest
from pymilvus import DataType, MilvusClient, MilvusException
from pymilvus.grpc_gen import milvus_pb2, milvus_pb2_grpc, schema_pb2

import edgelib
from conftest import start_ready_edge, stop_edge
from edgelib import TOKEN

CLUSTER = "default"
SCHEMA_TTL = 2.0  # seconds; validation.schema_ttl below
TTL_POLL_LIMIT = 5.0  # the TTL pickup must happen within this
TOPK_LIMIT = 16384  # Milvus quotaAndLimits.limits.topK
CODE_UNEXPECTED = 65535  # merr.Code of a plain error in the Milvus Proxy
CODE_COLLECTION_NOT_FOUND = 100
CODE_PARAMETER_INVALID = 1100


class Stack:
    def __init__(self, proc, ports):
        self.proc = proc
        self.ports = ports
        self.listener = f"127.0.0.1:{ports['listener']}"
        self.uri = f"http://{self.listener}"
        self.backend = f"127.0.0.1:{ports['lite']}"
        self.backend_uri = f"http://{self.backend}"
        self.envoy_admin_url = f"http://127.0.0.1:{ports['envoy_admin']}"
        self.edge_admin_url = f"http://127.0.0.1:{ports['edge_admin']}"

    def upstream(self) -> int:
        return edgelib.upstream_rq_total(self.envoy_admin_url, CLUSTER)

    def cache_stats(self) -> dict:
        return json.loads(edgelib.http_get(f"{self.edge_admin_url}/v1/status"))["schema_cache"]

    def invalidate(self, **body) -> dict:
        req = urllib.request.Request(
            f"{self.edge_admin_url}/v1/cache/invalidate", data=json.dumps(body).encode(),
            headers={"content-type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200, f"POST /v1/cache/invalidate: HTTP {r.status}"
            return json.loads(r.read())


@pytest.fixture(scope="module")
def stack(tmp_path_factory, request):
    edgelib.require_binaries()
    work = tmp_path_factory.mktemp("validation")
    names = ["listener", "envoy_admin", "xds", "filters", "edge_admin", "lite"]
    ports = dict(zip(names, edgelib.free_ports(len(names))))
    cfg = edgelib.edge_config(
        ports,
        clusters={CLUSTER: [ports["lite"]]},
        routes=[{"name": "default", "cluster": CLUSTER}],
        lites=[(ports["lite"], work / "lite")],
    )
    cfg["validation"] = {"schema_ttl": f"{SCHEMA_TTL:g}s"}
    all_ports = [ports[n] for n in names]
    child_ports = [ports["listener"], ports["envoy_admin"], ports["lite"]]
    needles = [str(work)]
    proc = start_ready_edge(work, cfg, request.node.nodeid, ports["listener"], all_ports, needles)
    yield Stack(proc, ports)
    stop_edge(proc, child_ports, all_ports, needles)


@pytest.fixture(scope="module", autouse=True)
def quiet_pymilvus():
    """Every refusal here is expected; pymilvus would log each with a traceback."""
    with edgelib.quiet_logger("pymilvus.decorators"):
        yield


@pytest.fixture(scope="module")
def via_edge(stack):
    c = MilvusClient(uri=stack.uri, token=TOKEN)
    yield c
    c.close()


@pytest.fixture(scope="module")
def direct(stack):
    c = MilvusClient(uri=stack.backend_uri, token=TOKEN)
    yield c
    c.close()


# ---------------------------------------------------------------- helpers


def vec(dim, x=0.1):
    return [x] * dim


def dim_mismatch(want_dim, got_dim):
    """The validator's reason for a float-vector placeholder of the wrong size."""
    return (f"vector dimension mismatch, expected vector size(byte) {4 * want_dim}, "
            f"actual {4 * got_dim}.")


def not_found(coll, db="default"):
    return f"collection not found[database={db}][collection={coll}]"


def outcome(fn):
    """('ok', None, None) or (exception class name, code, message)."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the class is what we record
        return (type(e).__name__, getattr(e, "code", None), getattr(e, "message", str(e)))
    return ("ok", None, None)


def refused_without_upstream(stack, fn, code, message):
    """fn raises MilvusException(code, message) and Envoy sends nothing upstream."""
    before = stack.upstream()
    with pytest.raises(MilvusException) as ei:
        fn()
    after = stack.upstream()
    assert (ei.value.code, ei.value.message) == (code, message)
    assert after == before, f"upstream_rq_total moved {before} -> {after}: the backend saw the call"
    return ei.value


def passes_upstream(stack, fn):
    before = stack.upstream()
    out = fn()
    after = stack.upstream()
    assert after == before + 1, f"upstream_rq_total {before} -> {after}, want +1"
    return out


def create(client, name, dim):
    client.create_collection(name, dimension=dim, consistency_level="Strong")


# ---------------------------------------------------------------- tests


def test_wrong_dim_refused_at_edge(stack, via_edge):
    create(via_edge, "val_dim", 8)
    passes_upstream(stack, lambda: via_edge.search("val_dim", data=[vec(8)], limit=3))
    refused_without_upstream(
        stack, lambda: via_edge.search("val_dim", data=[vec(4)], limit=3),
        CODE_UNEXPECTED, dim_mismatch(8, 4))


def test_unknown_collection_and_negative_cache(stack, via_edge, direct):
    name = "val_nope"
    lite = outcome(lambda: direct.search(name, data=[vec(8)], limit=3))
    assert lite == ("MilvusException", CODE_COLLECTION_NOT_FOUND, f"collection '{name}' does not exist")

    s0 = stack.cache_stats()
    first = refused_without_upstream(stack, lambda: via_edge.search(name, data=[vec(8)], limit=3),
                                     CODE_COLLECTION_NOT_FOUND, not_found(name))
    assert (type(first).__name__, first.code) == lite[:2]
    s1 = stack.cache_stats()
    # The edge asked the backend itself (DescribeCollection over its own
    # connection, not through Envoy): one miss, one fill.
    assert (s1["Misses"] - s0["Misses"], s1["Fills"] - s0["Fills"]) == (1, 1), (s0, s1)

    refused_without_upstream(stack, lambda: via_edge.search(name, data=[vec(8)], limit=3),
                             CODE_COLLECTION_NOT_FOUND, not_found(name))
    s2 = stack.cache_stats()
    # Second call answered from the negative cache: a hit, no fill.
    assert (s2["Hits"] - s1["Hits"], s2["Misses"] - s1["Misses"], s2["Fills"] - s1["Fills"]) == (1, 0, 0), (s1, s2)


def test_topk_over_limit(stack, via_edge, direct):
    create(via_edge, "val_topk", 8)
    refused_without_upstream(
        stack, lambda: via_edge.search("val_topk", data=[vec(8)], limit=20000),
        CODE_UNEXPECTED,
        f"topk [20000] is invalid, it should be in range [1, {TOPK_LIMIT}], but got 20000")
    # milvus-lite itself accepts it (Milvus would not): the edge is stricter than lite.
    direct.search("val_topk", data=[vec(8)], limit=20000)


def _insert_stub(addr):
    ch = grpc.insecure_channel(addr)
    md = [("authorization", base64.b64encode(TOKEN.encode()).decode())]
    return ch, milvus_pb2_grpc.MilvusServiceStub(ch), md


def _raw_insert(stub, md, coll, with_vector):
    ids = [101, 102]
    cols = [schema_pb2.FieldData(
        type=schema_pb2.DataType.Int64, field_name="id",
        scalars=schema_pb2.ScalarField(long_data=schema_pb2.LongArray(data=ids)))]
    if with_vector:
        cols.append(schema_pb2.FieldData(
            type=schema_pb2.DataType.FloatVector, field_name="vec",
            vectors=schema_pb2.VectorField(dim=8, float_vector=schema_pb2.FloatArray(data=vec(16)))))
    req = milvus_pb2.InsertRequest(db_name="default", collection_name=coll,
                                   fields_data=cols, num_rows=len(ids))
    return stub.Insert(req, metadata=md, timeout=10)


def test_insert_missing_field(stack, via_edge, direct):
    coll = "val_insert"
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=8)
    via_edge.create_collection(coll, schema=schema, consistency_level="Strong")
    ch, stub, md = _insert_stub(stack.listener)
    try:
        before = stack.upstream()
        r = _raw_insert(stub, md, coll, with_vector=False)
        after = stack.upstream()
        assert r.status.code != 0, r
        assert (r.status.code, r.status.reason) == (
            CODE_PARAMETER_INVALID,
            "fieldSchema(vec) has no corresponding fieldData pass in: invalid parameter"), r.status
        assert after == before, f"upstream_rq_total moved {before} -> {after}"
        # Control: the same raw path with both columns goes through.
        r = passes_upstream(stack, lambda: _raw_insert(stub, md, coll, with_vector=True))
        assert r.status.code == 0, r.status
    finally:
        ch.close()
    rows = direct.query(coll, filter="id >= 0", output_fields=["id"])
    assert sorted(x["id"] for x in rows) == [101, 102]
    # For the record: milvus-lite refuses the missing column too, in its own words.
    ch, stub, md = _insert_stub(stack.backend)
    try:
        lite = _raw_insert(stub, md, coll, with_vector=False).status
    finally:
        ch.close()
    assert lite.code != 0, lite
    print(f"\ninsert missing 'vec': lite code={lite.code} {lite.reason!r}; "
          f"edge code={CODE_PARAMETER_INVALID}")


def test_redefine_through_edge_is_immediate(stack, via_edge):
    coll = "val_redef"
    create(via_edge, coll, 8)
    t0 = time.monotonic()
    via_edge.search(coll, data=[vec(8)], limit=3)  # fills the cache with dim 8
    inv0 = stack.cache_stats()["Invalidations"]
    via_edge.drop_collection(coll)
    create(via_edge, coll, 16)
    passes_upstream(stack, lambda: via_edge.search(coll, data=[vec(16)], limit=3))
    refused_without_upstream(stack, lambda: via_edge.search(coll, data=[vec(8)], limit=3),
                             CODE_UNEXPECTED, dim_mismatch(16, 8))
    assert stack.cache_stats()["Invalidations"] > inv0, "DDL through the edge invalidated nothing"
    elapsed = time.monotonic() - t0
    assert elapsed < SCHEMA_TTL, f"took {elapsed:.2f}s: the TTL, not DDL invalidation, may explain it"


def test_backend_ddl_picked_up_after_ttl(stack, via_edge, direct):
    coll = "val_ttl"
    create(via_edge, coll, 8)
    via_edge.search(coll, data=[vec(8)], limit=3)  # cache: dim 8
    t0 = time.monotonic()
    direct.drop_collection(coll)
    create(direct, coll, 16)
    # The edge cannot see DDL that bypassed it: still dim 8 until the TTL.
    refused_without_upstream(stack, lambda: via_edge.search(coll, data=[vec(16)], limit=3),
                             CODE_UNEXPECTED, dim_mismatch(8, 16))
    last = None
    while time.monotonic() - t0 <= TTL_POLL_LIMIT:
        last = outcome(lambda: via_edge.search(coll, data=[vec(16)], limit=3))
        if last[0] == "ok":
            break
        time.sleep(0.1)
    took = time.monotonic() - t0
    assert last == ("ok", None, None), f"dim 16 still refused {took:.1f}s after backend DDL: {last}"
    print(f"\nbackend DDL picked up {took:.2f}s after it (schema_ttl {SCHEMA_TTL}s)")
    refused_without_upstream(stack, lambda: via_edge.search(coll, data=[vec(8)], limit=3),
                             CODE_UNEXPECTED, dim_mismatch(16, 8))


def test_backend_ddl_picked_up_after_invalidate(stack, via_edge, direct):
    coll = "val_inval"
    create(via_edge, coll, 8)
    t0 = time.monotonic()
    via_edge.search(coll, data=[vec(8)], limit=3)  # cache: dim 8, filled after t0
    direct.drop_collection(coll)
    create(direct, coll, 32)
    refused_without_upstream(stack, lambda: via_edge.search(coll, data=[vec(32)], limit=3),
                             CODE_UNEXPECTED, dim_mismatch(8, 32))
    answer = stack.invalidate(cluster=CLUSTER, db="default", collection=coll)
    assert answer == {"invalidated": {"cluster": CLUSTER, "db": "default", "collection": coll}}, answer
    passes_upstream(stack, lambda: via_edge.search(coll, data=[vec(32)], limit=3))
    refused_without_upstream(stack, lambda: via_edge.search(coll, data=[vec(8)], limit=3),
                             CODE_UNEXPECTED, dim_mismatch(32, 8))
    elapsed = time.monotonic() - t0
    assert elapsed < SCHEMA_TTL, f"took {elapsed:.2f}s: the TTL, not the invalidation, may explain it"


def test_comparison_table_lite_vs_edge(stack, via_edge, direct):
    create(via_edge, "val_cmp", 8)
    # milvus-lite accepts "1abc" as a name (Milvus does not); the edge refuses
    # every request naming it, so it is created at the backend directly.
    create(direct, "1abc", 8)
    window = (f"it should be in range [1, {TOPK_LIMIT}], but got 20000")
    cases = [
        # mistake, call(client), lite validates?, edge (code, message)
        ("unknown collection", lambda c: c.search("val_cmp_nope", data=[vec(8)], limit=3),
         True, (CODE_COLLECTION_NOT_FOUND, not_found("val_cmp_nope"))),
        ("wrong dim (4 for 8)", lambda c: c.search("val_cmp", data=[vec(4)], limit=3),
         False, (CODE_UNEXPECTED, dim_mismatch(8, 4))),
        ("topk 20000", lambda c: c.search("val_cmp", data=[vec(8)], limit=20000),
         False, (CODE_UNEXPECTED, f"topk [20000] is invalid, {window}")),
        ("offset+topk 20000", lambda c: c.search("val_cmp", data=[vec(8)], limit=10000, offset=10000),
         False, (CODE_UNEXPECTED, f"offset+topk [20000] is invalid, {window}")),
        # Milvus's Search only looks names up: a name no Milvus collection
        # can have is CollectionNotFound (Query, Insert, … answer 1100).
        ("bad name '1abc'", lambda c: c.search("1abc", data=[vec(8)], limit=3),
         False, (CODE_COLLECTION_NOT_FOUND, not_found("1abc"))),
    ]
    rows, problems = [], []
    for mistake, call, lite_validates, (code, message) in cases:
        lite = outcome(lambda: call(direct))
        before = stack.upstream()
        edge = outcome(lambda: call(via_edge))
        upstream = stack.upstream() - before
        rows.append((mistake, lite, edge, upstream))
        if edge != ("MilvusException", code, message):
            problems.append(f"{mistake}: edge gave {edge}, want MilvusException({code}, {message!r})")
        if upstream != 0:
            problems.append(f"{mistake}: {upstream} request(s) reached the backend through the edge")
        if lite_validates:
            if lite[0] == "ok" or lite[:2] != edge[:2]:
                problems.append(f"{mistake}: lite {lite[:2]} != edge {edge[:2]}")
        elif lite[0] != "ok":
            problems.append(f"{mistake}: expected milvus-lite to accept it, it gave {lite}")

    def fmt(o):
        return "accepted" if o[0] == "ok" else f"{o[0]} code={o[1]}"

    w = max(len(r[0]) for r in rows)
    lines = [f"{'mistake':<{w}} | {'milvus-lite direct':<26} | {'through edge':<26} | edge message",
             f"{'-' * w}-+-{'-' * 26}-+-{'-' * 26}-+-{'-' * 12}"]
    for mistake, lite, edge, _ in rows:
        lines.append(f"{mistake:<{w}} | {fmt(lite):<26} | {fmt(edge):<26} | {edge[2]}")
    lines.append("(lite messages: " + "; ".join(
        f"{m}: {l[2]!r}" for m, l, _, _ in rows if l[0] != "ok") + ")")
    print("\n" + "\n".join(lines))
    assert not problems, "\n".join(problems)
