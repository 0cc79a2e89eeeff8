"""Rate limits with Milvus's semantics through the real edge, Envoy and
milvus-lite (issue 10): rates held at the configured limit under a 3x load
with pymilvus's own retries, per-user limits, limits set by Milvus's own
collection properties, database force-deny, typed answers (code 8 / 9) and
REST's JSON errors. Loads are bounded and on loopback."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, List

import pytest
from pymilvus import DataType, MilvusClient, MilvusException

import edgelib
from conftest import start_ready_edge, stop_edge

PASSWORDS = {"root": "Milvus", "alice": "alice-pass-1", "bob": "bob-pass-1"}
MB = 1024 * 1024
DIM = 128
INSERT_MB = 1.0  # the insert collection's limit
SEARCH_VPS = 200.0  # the search collection's limit
ALICE_VPS = 50.0  # alice's own search limit, on any collection

RATE_REASON = ("request is rejected by grpc RateLimiter middleware, please retry later: "
               "rate limit exceeded[rate={rate}]")
DENY_REASON = "quota exceeded[reason=access has been disabled by the administrator]"


@dataclass
class LimitedEdge:
    proc: edgelib.EdgeProcess
    uri: str
    envoy_admin_url: str
    edge_admin_url: str
    clients: list

    def client(self, user: str = "root") -> MilvusClient:
        c = MilvusClient(uri=self.uri, token=f"{user}:{PASSWORDS[user]}")
        self.clients.append(c)
        return c

    def counts(self, scope: str, rate_type: str) -> dict:
        status = json.loads(edgelib.http_get(f"{self.edge_admin_url}/v1/status"))
        for c in status["rate_limit"]["counts"] or []:
            if c["scope"] == scope and c["rate_type"] == rate_type:
                return c
        return {"admitted": 0, "refused": 0}

    def tx_bytes(self) -> int:
        return edgelib.envoy_counter(self.envoy_admin_url, "cluster.default.upstream_cx_tx_bytes_total")


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    edgelib.require_binaries()
    work = tmp_path_factory.mktemp("ratelimit")
    names = ["listener", "envoy_admin", "xds", "filters", "edge_admin", "lite"]
    ports = dict(zip(names, edgelib.free_ports(len(names))))
    data = {"milvus": {"users": {
        u: {"password_hash": edgelib.hash_password(p), "roles": ["admin"] if u != "root" else []}
        for u, p in PASSWORDS.items()}}}
    bundle = edgelib.policy_bundle(work / "bundle", data)
    cfg = edgelib.edge_config(
        ports,
        clusters={"default": [ports["lite"]]},
        routes=[{"name": "default", "cluster": "default"}],
        lites=[(ports["lite"], work / "lite")],
    )
    cfg["auth"] = {"policy_dir": str(bundle)}
    cfg["rate_limit"] = {
        "enabled": True,
        "collections": [
            {"database": "default", "name": "rl_insert", "insert_mb": INSERT_MB},
            {"database": "default", "name": "rl_big", "insert_mb": INSERT_MB},
            {"database": "default", "name": "rl_search", "search_vps": SEARCH_VPS},
        ],
        "callers": [{"user": "alice", "search_vps": ALICE_VPS}],
    }
    all_ports = [ports[n] for n in names]
    child_ports = [ports["listener"], ports["envoy_admin"], ports["lite"]]
    needles = [str(work)]
    proc = start_ready_edge(work, cfg, "ratelimit", ports["listener"], all_ports, needles)
    e = LimitedEdge(proc, f"http://127.0.0.1:{ports['listener']}",
                    f"http://127.0.0.1:{ports['envoy_admin']}",
                    f"http://127.0.0.1:{ports['edge_admin']}", [])
    try:
        yield e
    finally:
        edgelib.close_clients(e.clients)
        stop_edge(proc, child_ports, all_ports, needles)


def _create(c: MilvusClient, name: str, db_rows: int = 0) -> None:
    if c.has_collection(name):
        c.drop_collection(name)
    schema = c.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    index = c.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    c.create_collection(name, schema=schema, index_params=index)
    if db_rows:
        c.insert(name, _rows(0, db_rows))


def _rows(start: int, n: int) -> List[dict]:
    return [{"id": start + i, "vec": [float((start + i) % 97) / 97.0 + j * 1e-3 for j in range(DIM)]}
            for i in range(n)]


def _paced(threads: int, per_thread_rate: float, seconds: float,
           call: Callable[[int, int], None]) -> List[float]:
    """Runs call(thread, i) from `threads` threads, each offering
    per_thread_rate calls/s for `seconds`; returns the completion times (s
    from the start) of the calls that returned. A call that raises fails the
    test (pymilvus retries rate-limited calls itself)."""
    done: List[float] = []
    errors: List[BaseException] = []
    lock = threading.Lock()
    t0 = time.monotonic()

    def run(k: int) -> None:
        i = 0
        while True:
            due = t0 + i / per_thread_rate
            if due - t0 >= seconds or time.monotonic() - t0 >= seconds:
                return
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            try:
                call(k, i)
            except BaseException as ex:  # noqa: BLE001 - reported below
                errors.append(ex)
                return
            with lock:
                done.append(time.monotonic() - t0)
            i += 1

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, f"the client raised: {errors[0]!r}"
    return done


def _rate(times: List[float], seconds: float) -> float:
    return sum(1 for t in times if t <= seconds) / seconds


def test_insert_held_at_collection_limit(limited):
    """A pymilvus insert loop offered at 3x a 1 MB/s collection limit for 15 s
    is admitted at 1 MB/s +-10 %, raises nothing (pymilvus backs off on code 8
    and retries), and the backend receives only the admitted bytes."""
    root = limited.client()
    _create(root, "rl_insert")
    batch = 200  # 200 rows x dim 128: ~103 KB per insert
    per_insert = batch * (DIM * 4 + 3) + 100  # protobuf bytes, within 1 %
    offered = 3 * INSERT_MB * MB / per_insert  # inserts/s for 3x the limit
    seconds = 15.0
    tx0 = limited.tx_bytes()
    before = limited.counts("collection", "DMLInsert")
    with edgelib.quiet_logger("pymilvus"):
        done = _paced(3, offered / 3, seconds,
                      lambda k, i: root.insert("rl_insert", _rows((k * 100_000) + i * batch, batch)))
    after = limited.counts("collection", "DMLInsert")
    tx = limited.tx_bytes() - tx0
    # Admitted in the window, with the bucket's first second of burst.
    admitted_mb_s = _rate(done, seconds) * per_insert / MB
    print(f"insert: admitted {admitted_mb_s:.3f} MB/s, {len(done)} inserts, backend got {tx} bytes")
    assert admitted_mb_s == pytest.approx(INSERT_MB * (seconds + 1) / seconds, rel=0.10), (
        f"admitted {admitted_mb_s:.3f} MB/s against a {INSERT_MB} MB/s limit offered 3x")
    refused = after["refused"] - before["refused"]
    assert refused > 0, "nothing was refused at 3x the limit"
    assert after["admitted"] - before["admitted"] == len(done), "every admitted insert is one the client saw succeed"
    # What reached the backend is what was admitted: bytes sent upstream
    # (HTTP/2 framing and the few other calls add < 5 %).
    assert tx == pytest.approx(len(done) * per_insert, rel=0.05), (
        f"backend got {tx} bytes for {len(done)} admitted inserts ({refused} refused)")
    rows = root.query("rl_insert", filter="", output_fields=["count(*)"])[0]["count(*)"]
    assert rows == len(done) * batch, "rows stored = rows admitted: none lost, none doubled"


def test_search_vectors_per_second(limited):
    """Search limited to 200 vectors/s with nq = 10: 20 calls/s +-10 %."""
    root = limited.client()
    _create(root, "rl_search", db_rows=100)
    root.load_collection("rl_search")
    q = [_rows(5, 1)[0]["vec"]] * 10
    seconds = 10.0
    with edgelib.quiet_logger("pymilvus"):
        done = _paced(3, 20.0, seconds, lambda k, i: root.search("rl_search", data=q, limit=3))
    print(f"search: {_rate(done, seconds):.2f} calls/s")
    assert _rate(done, seconds) == pytest.approx(SEARCH_VPS / 10 * (seconds + 1) / seconds, rel=0.10)


def test_per_user_limit_spares_other_users(limited):
    """alice's own 50 vectors/s throttles her while bob, searching the same
    collection at the same time and rate, is not throttled."""
    root = limited.client()
    _create(root, "rl_users", db_rows=100)
    root.load_collection("rl_users")
    alice, bob = limited.client("alice"), limited.client("bob")
    q = [_rows(5, 1)[0]["vec"]] * 10  # nq = 10: alice gets 5 calls/s
    seconds = 8.0
    out = {}

    def load(name, c):
        out[name] = _paced(1, 15.0, seconds, lambda k, i: c.search("rl_users", data=q, limit=3))

    with edgelib.quiet_logger("pymilvus"):
        ts = [threading.Thread(target=load, args=a) for a in (("alice", alice), ("bob", bob))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    print(f"alice {_rate(out['alice'], seconds):.2f}/s, bob {_rate(out['bob'], seconds):.2f}/s")
    assert _rate(out["alice"], seconds) == pytest.approx(ALICE_VPS / 10 * (seconds + 1) / seconds, rel=0.15)
    assert _rate(out["bob"], seconds) >= 15.0 * 0.9, "bob was throttled by alice's limit"
    counts = limited.counts("caller", "DQLSearch")
    assert counts["refused"] > 0


def test_typed_answer_without_retries(limited):
    """With pymilvus's retries off, a limited call raises Milvus's own error:
    code 8, legacy RateLimit, the rate in bytes/s."""
    root = limited.client()
    _create(root, "rl_big")
    # One call far larger than the 1 MB burst passes (Milvus's bucket lets a
    # call through while not in debt): 17 MB under a 1 MB/s limit.
    big = 33_000  # rows x (dim 128 x 4 B) ~ 17 MB
    res = root.insert("rl_big", _rows(0, big), retry_on_rate_limit=False)
    assert res["insert_count"] == big
    with pytest.raises(MilvusException) as ei, edgelib.quiet_logger("pymilvus"):
        root.insert("rl_big", _rows(big, 10), retry_on_rate_limit=False)
    assert ei.value.code == 8
    assert ei.value.message == RATE_REASON.format(rate=float(INSERT_MB * MB)).replace(
        "1048576.0", "1.048576e+06")


def test_alter_collection_properties_takes_effect(limited):
    """A limit set with alter_collection_properties through the edge is
    enforced within 2 s; dropping the property lifts it."""
    root = limited.client()
    _create(root, "rl_props", db_rows=10)
    root.load_collection("rl_props")

    def limited_within(seconds: float) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            try:
                root.query("rl_props", filter="id >= 0", limit=1, retry_on_rate_limit=False)
            except MilvusException as ex:
                assert ex.code == 8, ex
                assert "rate limit exceeded[rate=2]" in ex.message
                return time.monotonic() - t0
            time.sleep(0.02)
        return -1

    with edgelib.quiet_logger("pymilvus"):
        assert limited_within(1.0) < 0, "limited before any limit was set"
        root.alter_collection_properties("rl_props", properties={"collection.queryRate.max.qps": "2"})
        took = limited_within(2.0)
        assert 0 <= took <= 2.0, "the property's limit was not enforced within 2 s"
        root.drop_collection_properties("rl_props", property_keys=["collection.queryRate.max.qps"])
        time.sleep(1.1)  # the bucket's debt is repaid
        assert limited_within(1.0) < 0, "still limited after the property was dropped"


def test_force_deny_writing_on_a_database(limited):
    """database.force.deny.writing: inserts answer code 9 with Milvus's
    reason (gRPC and REST), searches still work."""
    root = limited.client()
    if "rl_deny" not in root.list_databases():
        root.create_database("rl_deny")
    db = MilvusClient(uri=limited.uri, token="root:Milvus", db_name="rl_deny")
    limited.clients.append(db)
    _create(db, "docs", db_rows=20)
    db.load_collection("docs")
    root.alter_database_properties("rl_deny", properties={"database.force.deny.writing": "true"})
    try:
        with pytest.raises(MilvusException) as ei, edgelib.quiet_logger("pymilvus"):
            db.insert("docs", _rows(100, 5))
        assert ei.value.code == 9
        assert ei.value.message == DENY_REASON
        hits = db.search("docs", data=[_rows(3, 1)[0]["vec"]], limit=1)
        assert hits[0][0]["id"] == 3
        # REST: Milvus's JSON error, HTTP 429.
        req = urllib.request.Request(
            f"{limited.uri}/v2/vectordb/entities/insert", method="POST",
            data=json.dumps({"dbName": "rl_deny", "collectionName": "docs",
                             "data": _rows(200, 1)}).encode(),
            headers={"Authorization": "Bearer root:Milvus", "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as he:
            urllib.request.urlopen(req, timeout=10)
        assert he.value.code == 429
        body = json.loads(he.value.read())
        assert body == {"code": 1807, "message": "request is rejected by limiter, error: " + DENY_REASON}
    finally:
        root.alter_database_properties("rl_deny", properties={"database.force.deny.writing": "false"})
    db.insert("docs", _rows(100, 5))  # writing again
