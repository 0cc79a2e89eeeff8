"""Backend credentials against a real Milvus with authentication on (the PyPI
milvus==2.3.5 standalone of the `standalone_edge` session fixture).

This module runs its own milvus-edge (no launched backends) in front of that
standalone, with its own policy bundle: an API key, SSO JWTs and a Milvus user
the edge grants a broad role. Two clusters point at the same standalone:

- m: forward passthrough (the default), credential root / Milvus (for the
  edge's schema fills only; the client's authorization goes on). Collections
  cred_* route there.
- m_service: forward service, credential root / Milvus, which Envoy sends
  instead of the client's. Everything else routes there (svc_* collections,
  and the calls that name no collection, such as pymilvus's Connect: an
  API-key or JWT client could not even connect through a passthrough default).

(a) fills succeed with the cluster's credential (/v1/status: cache hits, no
fill errors); (b) API-key and JWT callers, who have no Milvus login, create,
insert and search in service mode; (c) in passthrough mode Milvus itself still
refuses a Milvus user without privileges that the edge's policy lets through.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from urllib.parse import urlparse

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

import edgelib
from conftest import start_ready_edge, stop_edge

ISSUER = "https://sso.example.com"
AUDIENCE = "milvus"
ROOT = "root:Milvus"
NOPRIV_USER, NOPRIV_PASSWORD = "edge_nopriv", "NoPriv-pw1"
DIM = 8


class CredEdge:
    def __init__(self, proc, ports, api_key, key, direct_uri, work):
        self.proc = proc
        self.uri = f"http://127.0.0.1:{ports['listener']}"
        self.edge_admin_url = f"http://127.0.0.1:{ports['edge_admin']}"
        self.api_key = api_key
        self.key = key
        self.direct_uri = direct_uri
        self.access_log = work / "access.jsonl"
        self._clients = []

    def client(self, uri=None, **auth) -> MilvusClient:
        c = MilvusClient(uri=uri or self.uri, timeout=60, **auth)
        self._clients.append(c)
        return c

    def token(self, sub="sso-writer", roles=("admin",)) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "roles": list(roles),
                  "iat": now, "exp": now + 600}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "rs-1"})

    def status(self) -> dict:
        return json.loads(edgelib.http_get(self.edge_admin_url + "/v1/status"))

    def close_clients(self):
        edgelib.close_clients(self._clients)


@pytest.fixture(scope="module")
def cred_edge(request, tmp_path_factory):
    se = request.getfixturevalue("standalone_edge")
    direct_uri = se.direct_uri
    milvus_port = urlparse(direct_uri).port
    work = tmp_path_factory.mktemp("credentials")
    names = ["listener", "envoy_admin", "xds", "filters", "edge_admin"]
    ports = dict(zip(names, edgelib.free_ports(len(names))))

    # A Milvus user with no privileges, made directly on the standalone as root.
    root = MilvusClient(uri=direct_uri, token=ROOT, timeout=60)
    try:
        if NOPRIV_USER in root.list_users():
            root.drop_user(NOPRIV_USER)
        root.create_user(user_name=NOPRIV_USER, password=NOPRIV_PASSWORD)
    finally:
        root.close()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "rs-1", "alg": "RS256", "use": "sig"})
    jwks_file = work / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [jwk]}))
    api_key = "mek_" + secrets.token_hex(16)
    bundle = edgelib.policy_bundle(work / "bundle", {"milvus": {
        "settings": {"root_bypass": True},
        "users": {
            "root": {"password_hash": edgelib.hash_password("Milvus"), "roles": []},
            # The edge lets this user do anything; Milvus must still refuse it.
            NOPRIV_USER: {"password_hash": edgelib.hash_password(NOPRIV_PASSWORD),
                          "roles": ["admin"]},
        },
        "api_keys": [{"sha256": hashlib.sha256(api_key.encode()).hexdigest(), "user": "bot",
                      "roles": ["admin"]}],
        "roles": {},
    }})
    password_file = work / "milvus-root-password"
    password_file.write_text("Milvus\n")
    password_file.chmod(0o600)
    cred = {"user": "root", "password_file": str(password_file)}

    cfg = edgelib.edge_config(
        ports,
        clusters={"m": [milvus_port], "m_service": [milvus_port]},
        routes=[{"name": "passthrough", "collection": "cred_*", "cluster": "m"},
                {"name": "default", "cluster": "m_service"}],
        lites=[],
    )
    del cfg["launch"]
    for cl in cfg["clusters"]:
        cl["credential"] = cred
        cl["rest"] = False  # Milvus 2.3 serves no REST v2
    cfg["clusters"][1]["forward"] = "service"
    cfg["listener"]["access_log"] = str(work / "access.jsonl")
    cfg["auth"] = {
        "policy_dir": str(bundle),
        "jwt": {"jwks_file": str(jwks_file), "issuer": ISSUER, "audience": AUDIENCE,
                "roles_claim": "roles"},
    }
    all_ports = [ports[n] for n in names]
    child_ports = [ports["listener"], ports["envoy_admin"]]
    needles = [str(work)]
    proc = start_ready_edge(work, cfg, "credentials", ports["listener"], all_ports, needles)
    e = CredEdge(proc, ports, api_key, key, direct_uri, work)
    try:
        yield e
    finally:
        e.close_clients()
        cleanup = MilvusClient(uri=direct_uri, token=ROOT, timeout=60)
        try:
            for coll in cleanup.list_collections():
                if coll.startswith(("cred_", "svc_cred_")):
                    cleanup.drop_collection(coll)
            cleanup.drop_user(NOPRIV_USER)
        finally:
            cleanup.close()
        stop_edge(proc, child_ports, all_ports, needles)




def test_fills_use_the_cluster_credential(cred_edge):
    """(a) The edge's schema fills authenticate with cluster m's credential."""
    e = cred_edge
    before = e.status()["schema_cache"]
    edgelib.crud_workload(e.client(token=ROOT), edgelib.unique_name("cred_a"))
    after = e.status()["schema_cache"]
    assert after["FillErrors"] == before["FillErrors"] == 0, (before, after)
    assert after["Fills"] > before["Fills"], (before, after)
    assert after["Hits"] > 0, after


@pytest.mark.parametrize("who", ["api key", "jwt"])
def test_service_mode_callers_without_a_milvus_login(cred_edge, who):
    """(b) API-key and JWT callers work in service mode (collections svc_*), and
    are refused by Milvus in passthrough mode, where their token goes on."""
    e = cred_edge
    token = e.api_key if who == "api key" else e.token()
    c = e.client(token=token)
    edgelib.crud_workload(c, edgelib.unique_name("svc_cred"))
    assert e.status()["schema_cache"]["FillErrors"] == 0
    # The same caller on the passthrough cluster: Milvus sees the API key or
    # the JWT and does not know it.
    with pytest.raises((MilvusException, grpc.RpcError)):
        c.has_collection(edgelib.unique_name("cred_b"))


def test_passthrough_milvus_still_refuses(cred_edge):
    """(c) The edge's policy allows the user everything; in passthrough mode its
    own Milvus login goes on and Milvus refuses what it has no privilege for."""
    e = cred_edge
    name = edgelib.unique_name("cred_c")
    c = e.client(token=f"{NOPRIV_USER}:{NOPRIV_PASSWORD}")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    with pytest.raises((MilvusException, grpc.RpcError)) as ei:
        c.create_collection(name, schema=schema)
    err = ei.value
    msg = err.details() if isinstance(err, grpc.RpcError) else str(err)
    # Milvus's own refusal (the edge's would name its policy decision).
    assert f"PrivilegeCreateCollection: permission deny to {NOPRIV_USER}" in msg, msg
    root = e.client(uri=e.direct_uri, token=ROOT)
    assert not root.has_collection(name), "Milvus created the collection for an unprivileged user"
