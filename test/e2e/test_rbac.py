"""Authorization at the edge with a security team's policy bundle: password users,
an API key and SSO JWTs (RS256 and ES256) map to roles; the default Rego policy
(Milvus RBAC) allows or denies each call with Milvus's own words, and denied or
unauthenticated calls never reach the backend.

One gateway for the module: one milvus-lite behind cluster `default`, auth from a
temp bundle (the repo's .rego files + our data.yaml) and a temp JWKS file."""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import time

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

import edgelib
from conftest import start_ready_edge, stop_edge


DIM = 8
ROWS = 200
SEARCH = {"metric_type": "L2", "params": {"ef": 64}}
ISSUER = "https://sso.test"
AUDIENCE = "milvus"
PASSWORDS = {"root": "Root-pw1", "boss": "Boss-pw1", "reader": "Reader-pw1"}
BAD_PASSWORD = "auth check failure, please check username and password are correct"
BAD_TOKEN = "auth check failure, please check the token is valid"


def deny(privilege: str, user: str) -> str:
    """Milvus's denial text (internal/proxy/privilege_interceptor.go)."""
    return f"Privilege{privilege}: permission deny to {user} in the `default` database"


def _rows(seed: int):
    rng = random.Random(seed)
    return [{"id": i, "vec": [rng.uniform(-1, 1) for _ in range(DIM)]} for i in range(ROWS)]


def _create_loaded(client: MilvusClient, name: str, seed: int) -> list:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(name, schema=schema, consistency_level="Strong")
    rows = _rows(seed)
    assert client.insert(name, rows)["insert_count"] == ROWS
    index = MilvusClient.prepare_index_params()
    index.add_index(field_name="vec", index_type="HNSW", metric_type="L2",
                    params={"M": 8, "efConstruction": 32})
    client.create_index(name, index)
    client.load_collection(name)
    return rows


class RBACEdge:
    def __init__(self, proc, ports, api_key, keys):
        self.proc = proc
        self.ports = ports
        self.uri = f"http://127.0.0.1:{ports['listener']}"
        self.envoy_admin_url = f"http://127.0.0.1:{ports['envoy_admin']}"
        self.api_key = api_key
        self.keys = keys  # name -> (kid, alg, private key)
        self.rows = {}
        self._clients = []

    def client(self, **auth) -> MilvusClient:
        c = MilvusClient(uri=self.uri, timeout=20, **auth)
        self._clients.append(c)
        return c

    def as_user(self, user: str) -> MilvusClient:
        return self.client(token=f"{user}:{PASSWORDS[user]}")

    def upstream(self) -> int:
        return edgelib.upstream_rq_total(self.envoy_admin_url, "default")

    def token(self, sub="sso-reader", roles=("reader",), key="rs", exp_in=600, **extra) -> str:
        kid, alg, priv = self.keys[key]
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "roles": list(roles),
                  "iat": now, "exp": now + exp_in, **extra}
        return jwt.encode(claims, priv, algorithm=alg, headers={"kid": kid})

    def close_clients(self):
        edgelib.close_clients(self._clients)


@pytest.fixture(scope="module")
def rbac(tmp_path_factory):
    edgelib.require_binaries()
    work = tmp_path_factory.mktemp("rbac")
    names = ["listener", "envoy_admin", "xds", "filters", "edge_admin", "lite"]
    ports = dict(zip(names, edgelib.free_ports(len(names))))

    # The issuer's keys: RS256 and ES256 in the JWKS; "forger" uses the RSA kid
    # with a key the JWKS does not hold.
    rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    es = ec.generate_private_key(ec.SECP256R1())
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys = {"rs": ("rs-1", "RS256", rs), "es": ("es-1", "ES256", es),
            "forger": ("rs-1", "RS256", forger)}
    jwks = []
    for kid, alg, priv in (keys["rs"], keys["es"]):
        algo = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
        jwk = json.loads(algo.to_jwk(priv.public_key()))
        jwk.update({"kid": kid, "alg": alg, "use": "sig"})
        jwks.append(jwk)
    jwks_file = work / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": jwks}))

    api_key = "mek_" + secrets.token_hex(16)
    data = {"milvus": {
        "settings": {"root_bypass": True},
        "users": {
            "root": {"password_hash": edgelib.hash_password(PASSWORDS["root"]), "roles": []},
            "boss": {"password_hash": edgelib.hash_password(PASSWORDS["boss"]), "roles": ["admin"]},
            "reader": {"password_hash": edgelib.hash_password(PASSWORDS["reader"]),
                       "roles": ["reader"]},
        },
        "api_keys": [{"sha256": hashlib.sha256(api_key.encode()).hexdigest(), "user": "bot",
                      "roles": ["reader"]}],
        "roles": {"reader": {"grants": [
            {"object_type": "Collection", "db": "default", "object_name": "docs",
             "privilege": "CollectionReadOnly"},
        ]}},
    }}
    bundle = edgelib.policy_bundle(work / "bundle", data)

    cfg = edgelib.edge_config(
        ports,
        clusters={"default": [ports["lite"]]},
        routes=[{"name": "default", "cluster": "default"}],
        lites=[(ports["lite"], work / "lite")],
    )
    cfg["auth"] = {
        "policy_dir": str(bundle),
        "decision_log": str(work / "decisions.jsonl"),
        "jwt": {"jwks_file": str(jwks_file), "issuer": ISSUER, "audience": AUDIENCE,
                "roles_claim": "roles"},
    }
    all_ports = [ports[n] for n in names]
    child_ports = [ports["listener"], ports["envoy_admin"], ports["lite"]]
    needles = [str(work)]
    proc = start_ready_edge(work, cfg, "rbac", ports["listener"], all_ports, needles)
    e = RBACEdge(proc, ports, api_key, keys)
    try:
        root = e.as_user("root")
        e.rows["docs"] = _create_loaded(root, "docs", seed=1)
        e.rows["other"] = _create_loaded(root, "other", seed=2)
        yield e
    finally:
        e.close_clients()
        stop_edge(proc, child_ports, all_ports, needles)


def _assert_search_hits(client: MilvusClient, name: str, rows: list, who: str) -> None:
    probe = rows[17]
    got = client.search(name, data=[probe["vec"]], limit=5, search_params=SEARCH,
                        output_fields=["id"])
    assert len(got) == 1 and len(got[0]) == 5, f"{who}: search {name}: {got}"
    assert got[0][0]["id"] == probe["id"], f"{who}: nearest neighbour of row 17: {got}"
    q = client.query(name, filter="id < 10", output_fields=["id"])
    assert sorted(r["id"] for r in q) == list(range(10)), f"{who}: query {name}: {q}"


def _assert_denied(e: RBACEdge, call, message: str) -> None:
    """call() raises what pymilvus 3.0.2 raises for a gRPC PERMISSION_DENIED: it does not
    retry or wrap that code (IGNORE_RETRY_CODES) and re-raises the grpc.RpcError itself.
    The Envoy counter of the backend cluster does not move."""
    before = e.upstream()
    with pytest.raises(grpc.RpcError) as ei:
        call()
    after = e.upstream()
    err = ei.value
    assert not isinstance(err, MilvusException), repr(err)
    assert (err.code(), err.details()) == (grpc.StatusCode.PERMISSION_DENIED, message), repr(err)
    assert after == before, f"denied call ({message}) reached the backend: {before} -> {after}"


def test_readers_search_and_query_docs(rbac):
    e = rbac
    readers = {
        "reader (password)": e.as_user("reader"),
        "bot (API key)": e.client(token=e.api_key),
        "JWT RS256": e.client(token=e.token(key="rs")),
        "JWT ES256": e.client(token=e.token(sub="sso-reader-es", key="es")),
    }
    for who, c in readers.items():
        before = e.upstream()
        _assert_search_hits(c, "docs", e.rows["docs"], who)
        # Control for the denial tests: allowed calls are counted on cluster default.
        assert e.upstream() > before, f"{who}: allowed calls not counted on cluster default"


def test_reader_denied_never_reaches_backend(rbac):
    e = rbac
    reader = e.as_user("reader")
    row = [{"id": 10_000, "vec": [0.5] * DIM}]
    _assert_denied(e, lambda: reader.insert("docs", row), deny("Insert", "reader"))
    _assert_denied(e, lambda: reader.search("other", data=[[0.5] * DIM], limit=3,
                                            search_params=SEARCH), deny("Search", "reader"))
    _assert_denied(e, lambda: reader.drop_collection("docs"), deny("DropCollection", "reader"))

    # The same role through the API key and a JWT: the denial names that identity.
    bot = e.client(token=e.api_key)
    _assert_denied(e, lambda: bot.insert("docs", row), deny("Insert", "bot"))
    sso = e.client(token=e.token(sub="sso-reader"))
    _assert_denied(e, lambda: sso.drop_collection("docs"), deny("DropCollection", "sso-reader"))

    # Nothing changed behind the edge; and an allowed call does move the counter.
    before = e.upstream()
    assert reader.has_collection("docs") is True
    assert reader.query("docs", filter="id == 10000", output_fields=["id"]) == []
    assert e.upstream() > before, "allowed calls not counted on cluster default"


def test_admin_can_write(rbac):
    e = rbac
    boss = e.as_user("boss")
    res = boss.insert("docs", [{"id": 5000, "vec": [0.25] * DIM}])
    assert res["insert_count"] == 1 and list(res["ids"]) == [5000], res
    got = boss.query("docs", filter="id == 5000", output_fields=["id"])
    assert [r["id"] for r in got] == [5000], got
    _assert_search_hits(boss, "other", e.rows["other"], "boss")

    boss.drop_collection("other")
    assert boss.has_collection("other") is False
    e.rows["other"] = _create_loaded(boss, "other", seed=3)
    _assert_search_hits(boss, "other", e.rows["other"], "boss after recreate")


def test_unauthenticated(rbac):
    e = rbac
    cases = {
        "wrong password": ({"token": "reader:not-the-password"}, BAD_PASSWORD),
        "unknown user": ({"user": "nobody", "password": PASSWORDS["reader"]}, BAD_PASSWORD),
        "expired JWT": ({"token": e.token(exp_in=-3600)}, f"{BAD_TOKEN}: token expired"),
        "JWT of another key": ({"token": e.token(key="forger")}, f"{BAD_TOKEN}: bad signature"),
    }
    for name, (auth, message) in cases.items():
        before = e.upstream()
        # pymilvus sends Connect from MilvusClient's constructor; the refusal comes out
        # as MilvusException(CONNECT_FAILED) whose __cause__ is the grpc.RpcError.
        with pytest.raises(MilvusException) as ei:
            c = MilvusClient(uri=e.uri, timeout=10, **auth)
            try:
                c.has_collection("docs", timeout=10)
            finally:
                c.close()
        after = e.upstream()
        exc = ei.value
        assert exc.code == 2, f"{name}: {exc!r}"  # pymilvus Status.CONNECT_FAILED
        assert exc.message.startswith(f"Fail connecting to server on 127.0.0.1:{e.ports['listener']}"), (
            f"{name}: {exc!r}")
        cause = exc.__cause__
        assert isinstance(cause, grpc.RpcError), f"{name}: cause {cause!r} of {ei.value!r}"
        assert (cause.code(), cause.details()) == (grpc.StatusCode.UNAUTHENTICATED, message), (
            f"{name}: {cause!r}")
        assert after == before, f"{name}: refused call reached the backend: {before} -> {after}"
