"""No secret in any output (issue 13, part 7).

One `milvus-edge run` with the decision log and Envoy's access log on sends
known secrets through every path — passwords of policy users (right and
wrong, and of an unknown user), an API key (right and wrong), JWTs (valid,
forged, expired), cluster credentials from a password file, a token file and
an environment variable (in service and passthrough mode, schema fills, a
rotated file picked up by a reload and a refused reload), the edge admin
token — over gRPC (pymilvus) and REST (urllib), then greps every output the
stack produces for each secret in every encoding it travels in (raw,
base64/base64url at each of the three byte alignments, so that base64 of any
longer string holding it, such as `user:password`, is found too; hex; URL
escaping): the edge's stderr (with Envoy's and milvus-lite's relayed output),
its stdout, the decision log, the access log, every edge admin GET endpoint,
Envoy's admin pages (/config_dump with EDS, /stats, /clusters, /listeners,
…), Envoy's bootstrap, and every other file the stack wrote. Any hit fails
with where it was found.

Cluster "rest" is a tiny fake REST backend (HTTP/1.1) that records what
reaches it: it proves that the service-mode token really travelled through
Envoy, so that finding it nowhere else means something."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Tuple

import grpc
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

import edgelib
from conftest import start_ready_edge, stop_edge

ISSUER = "https://sso.secrets.test"
AUDIENCE = "milvus"
DIM = 8
PT_ENV = "MILVUS_EDGE_E2E_PT_PASSWORD"


def _secret(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


class FakeREST:
    """A REST v2 backend on 127.0.0.1 that answers {"code": 0} and records the
    authorization of each request."""

    def __init__(self, port: int):
        self.seen: List[Tuple[str, str]] = []  # (path, authorization)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                n = int(self.headers.get("content-length") or 0)
                self.rfile.read(n)
                outer.seen.append((self.path, self.headers.get("authorization", "")))
                body = json.dumps({"code": 0, "data": {}}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SecretsEdge:
    def __init__(self, proc, ports, work, s, key, forger, fake, cfg, svc_pw):
        self.proc = proc
        self.ports = ports
        self.work = work
        self.s = s  # name -> secret string
        self.key = key
        self.forger = forger
        self.fake = fake
        self.uri = f"http://127.0.0.1:{ports['listener']}"
        self.envoy_admin = f"http://127.0.0.1:{ports['envoy_admin']}"
        self.edge_admin = f"http://127.0.0.1:{ports['edge_admin']}"
        self.access_log = work / "access.jsonl"
        self.decision_log = work / "decisions.jsonl"
        self.config_path = work / "milvus-edge.yaml"
        self.cfg = cfg
        self.svc_pw = svc_pw
        self.inputs: List[Path] = []  # files the test wrote (not outputs)
        # Secrets made during the test (each JWT), name -> value.
        self.extra: Dict[str, str] = {}
        self._clients: List[MilvusClient] = []

    def secret_forms(self) -> List[Tuple[str, str, str]]:
        return _secret_forms({**self.s, **self.extra})

    def client(self, **auth) -> MilvusClient:
        c = MilvusClient(uri=self.uri, timeout=30, **auth)
        self._clients.append(c)
        return c

    def jwt(self, what: str, key=None, exp_in=600) -> str:
        """A JWT, remembered as a secret (the whole token and its signature)."""
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "sso-writer", "roles": ["admin"],
                  "iat": now, "exp": now + exp_in, "jti": secrets.token_hex(8)}
        tok = jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": "rs-1"})
        n = len(self.extra)
        self.extra[f"{what} #{n}"] = tok
        self.extra[f"{what} #{n} signature"] = tok.rsplit(".", 1)[1]
        return tok

    def admin_get(self, path: str) -> str:
        req = urllib.request.Request(self.edge_admin + path,
                                     headers={"authorization": "Bearer " + self.s["admin token"]})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read().decode(errors="replace")

    def rest(self, path: str, authorization: str, body: dict) -> dict:
        req = urllib.request.Request(
            self.uri + path, data=json.dumps(body).encode(), method="POST",
            headers={"content-type": "application/json", "authorization": authorization})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace")
            try:
                return {"http": err.code, **json.loads(body)}
            except ValueError:
                return {"http": err.code, "body": body}

    def close_clients(self):
        edgelib.close_clients(self._clients)


@pytest.fixture(scope="module")
def sedge(tmp_path_factory):
    edgelib.require_binaries()
    work = tmp_path_factory.mktemp("secrets")
    names = ["listener", "envoy_admin", "xds", "filters", "edge_admin", "lite", "rest"]
    ports = dict(zip(names, edgelib.free_ports(len(names))))
    s = {
        "root password": _secret("Root-pw"),
        "alice password": _secret("Alice-pw"),
        "alice wrong password": _secret("Alice-wrong"),
        "mallory password": _secret("Mallory-pw"),
        "api key": "mek_" + secrets.token_hex(20),
        "wrong api key": "mek_" + secrets.token_hex(20),
        "svc cluster password": _secret("Cluster-pw"),
        "svc cluster password (rotated)": _secret("Cluster-pw2"),
        "rest cluster token": _secret("Token-pw"),
        "pt cluster password (env)": _secret("Env-pw"),
        "admin token": _secret("Admin-token"),
        "secret in a malformed header": _secret("Malformed-pw"),
    }
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "rs-1", "alg": "RS256", "use": "sig"})
    jwks_file = work / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [jwk]}))
    bundle = edgelib.policy_bundle(work / "bundle", {"milvus": {
        "settings": {"root_bypass": True},
        "users": {
            "root": {"password_hash": edgelib.hash_password(s["root password"]), "roles": []},
            "alice": {"password_hash": edgelib.hash_password(s["alice password"]),
                      "roles": ["admin"]},
        },
        "api_keys": [{"sha256": hashlib.sha256(s["api key"].encode()).hexdigest(),
                      "user": "bot", "roles": ["admin"]}],
        "roles": {},
    }})

    def secret_file(name: str, text: str) -> Path:
        p = work / name
        p.write_text(text + "\n")
        p.chmod(0o600)
        return p

    svc_pw = secret_file("svc-password", s["svc cluster password"])
    rest_tok = secret_file("rest-token", "tokuser:" + s["rest cluster token"])
    admin_tok = secret_file("admin-token", s["admin token"])

    cfg = edgelib.edge_config(
        ports,
        clusters={"svc": [ports["lite"]], "pt": [ports["lite"]], "rest": [ports["rest"]]},
        routes=[
            {"name": "passthrough", "collection": "pt_*", "cluster": "pt"},
            {"name": "rest", "collection": "rest_*", "cluster": "rest"},
            {"name": "default", "cluster": "svc"},
        ],
        lites=[(ports["lite"], work / "lite")],
    )
    cl = {c["name"]: c for c in cfg["clusters"]}
    cl["svc"].update(forward="service", rest=False,
                     credential={"user": "svcuser", "password_file": str(svc_pw)})
    cl["pt"].update(rest=False, credential={"user": "ptuser", "password_env": PT_ENV})
    # The fake speaks HTTP/1.1 REST only, so it cannot answer the HTTP/2
    # CheckHealth health check a Milvus port answers: no checks for it.
    cl["rest"].update(forward="service", rest=True, credential={"token_file": str(rest_tok)},
                      health={"kind": "none"})
    cfg["log"]["level"] = "debug"  # the edge's debug lines must hold no secret either
    cfg["listener"]["access_log"] = str(work / "access.jsonl")
    cfg["edge"]["admin_token_file"] = str(admin_tok)
    cfg["auth"] = {
        "policy_dir": str(bundle),
        "decision_log": str(work / "decisions.jsonl"),
        "jwt": {"jwks_file": str(jwks_file), "issuer": ISSUER, "audience": AUDIENCE,
                "roles_claim": "roles"},
        # A short budget: some wrong logins are checked, later ones refused
        # by the back-off; both paths see the secrets.
        "login_guard": {"failures": 3},
    }
    # Milvus's properties are read with the cluster credentials too.
    cfg["rate_limit"] = {"enabled": True}

    fake = FakeREST(ports["rest"])
    all_ports = [ports[n] for n in names if n != "rest"]
    child_ports = [ports["listener"], ports["envoy_admin"], ports["lite"]]
    needles = [str(work)]
    os.environ[PT_ENV] = s["pt cluster password (env)"]
    try:
        proc = start_ready_edge(work, cfg, "secrets", ports["listener"], all_ports, needles)
    except BaseException:
        fake.close()
        raise
    finally:
        del os.environ[PT_ENV]
    e = SecretsEdge(proc, ports, work, s, key, forger, fake, cfg, svc_pw)
    e.inputs = [jwks_file, svc_pw, rest_tok, admin_tok, work / "milvus-edge.yaml", bundle]
    try:
        yield e
    finally:
        e.close_clients()
        stop_edge(proc, child_ports, all_ports, needles)
        fake.close()
        # After the stop: what the logs got while shutting down.
        hits = find_secrets(e.secret_forms(), {
            "edge stderr (after stop)": proc.stderr_text(),
            "decision log (after stop)": _read(e.decision_log),
            "access log (after stop)": _read(e.access_log),
        })
        if hits:
            pytest.fail("secrets after the stop:\n" + "\n".join(hits), pytrace=False)


# ---------------------------------------------------------------- encodings


def _b64_cores(b: bytes, enc) -> List[str]:
    """The part of enc(x) that is the same for every x holding b, at each of
    the three byte alignments: the base64 of `user:password`, `Bearer …` or
    a whole header value contains one of them whenever it contains b."""
    out = []
    for k in range(3):
        e = enc(b"\0" * k + b).decode().rstrip("=")
        head = 4 if k else 0  # the first group mixes in the k bytes before b
        tail = {0: 0, 1: 2, 2: 3}[(k + len(b)) % 3]  # the last, partial group
        out.append(e[head:len(e) - tail])
    return out


def encodings(secret: str) -> Dict[str, str]:
    b = secret.encode()
    forms = {"raw": secret, "hex": b.hex(), "url-escaped": urllib.parse.quote(secret, safe="")}
    for name, enc in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        for k, core in enumerate(_b64_cores(b, enc)):
            forms[f"{name} (alignment {k})"] = core
    return {k: v for k, v in forms.items() if len(v) >= 12}


def _secret_forms(s: Dict[str, str]) -> List[Tuple[str, str, str]]:
    """(secret name, encoding, needle) for every secret and encoding."""
    out = []
    for name, value in s.items():
        for enc, needle in encodings(value).items():
            out.append((name, enc, needle))
    return out


def find_secrets(forms, outputs: Dict[str, str]) -> List[str]:
    hits = []
    for where, text in outputs.items():
        for name, enc, needle in forms:
            i = text.find(needle)
            if i >= 0:
                line = text.count("\n", 0, i) + 1
                ctx = text[max(0, i - 80): i + len(needle) + 40].replace("\n", "\\n")
                hits.append(f"{name} ({enc}) in {where}, line {line}: …{ctx}…")
    return hits


def _read(p: Path) -> str:
    try:
        return p.read_bytes().decode("latin-1")
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------- traffic


def _create(c: MilvusClient, name: str) -> None:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    c.create_collection(name, schema=schema, consistency_level="Strong")
    rows = [{"id": i, "vec": [float(i + j) / 100 for j in range(DIM)]} for i in range(50)]
    assert c.insert(name, rows)["insert_count"] == 50
    idx = MilvusClient.prepare_index_params()
    idx.add_index(field_name="vec", index_type="FLAT", metric_type="L2")
    c.create_index(name, idx)
    c.load_collection(name)


def _search(c: MilvusClient, name: str) -> None:
    got = c.search(name, data=[[0.1] * DIM], limit=3, output_fields=["id"])
    assert len(got[0]) == 3, got
    assert c.query(name, filter="id < 5", output_fields=["id"]), name


def _refused(call, who: str) -> None:
    """call() is refused (checked, or throttled by the login guard)."""
    with edgelib.quiet_logger("pymilvus"):
        try:
            call()
        except (MilvusException, grpc.RpcError):
            return
    pytest.fail(f"{who}: the call was let through")


def _grpc_traffic(e: SecretsEdge) -> None:
    s = e.s
    root = e.client(token="root:" + s["root password"])
    for name in ("svc_docs", "pt_docs"):
        if root.has_collection(name):
            root.drop_collection(name)
        _create(root, name)
    alice = e.client(token="alice:" + s["alice password"])
    alice2 = e.client(user="alice", password=s["alice password"])
    bot = e.client(token=s["api key"])
    sso = e.client(token=e.jwt("jwt"))
    for c in (alice, alice2, bot, sso):
        for name in ("svc_docs", "pt_docs"):
            _search(c, name)
        c.insert("svc_docs", [{"id": 1000, "vec": [0.5] * DIM}])
    # A collection the backend does not know: a fill that fails.
    assert alice.has_collection("svc_missing") is False


def _rest_traffic(e: SecretsEdge, ok: bool) -> None:
    s = e.s
    auths = {
        "alice": "Bearer alice:" + s["alice password"],
        "api key": "Bearer " + s["api key"],
        "jwt": "Bearer " + e.jwt("jwt"),
    } if ok else {
        "alice wrong": "Bearer alice:" + s["alice wrong password"],
        "mallory": "Bearer mallory:" + s["mallory password"],
        "wrong api key": "Bearer " + s["wrong api key"],
        "forged jwt": "Bearer " + e.jwt("forged jwt", key=e.forger),
        "expired jwt": "Bearer " + e.jwt("expired jwt", exp_in=-3600),
    }
    for who, auth in auths.items():
        before = len(e.fake.seen)
        for path, body in (
            ("/v2/vectordb/collections/describe", {"collectionName": "rest_docs"}),
            ("/v2/vectordb/entities/search", {"collectionName": "rest_docs", "data": [[0.1] * DIM],
                                              "limit": 3, "annsField": "vec"}),
            ("/v2/vectordb/collections/describe", {"collectionName": "svc_docs"}),
        ):
            got = e.rest(path, auth, body)
            if ok and body["collectionName"] == "rest_docs":
                assert got.get("code") == 0, f"{who} {path}: {got}"
            elif not ok:
                assert got.get("code") not in (0, None), f"{who} {path} was let through: {got}"
        if ok:
            seen = e.fake.seen[before:]
            want = "Bearer tokuser:" + s["rest cluster token"]
            assert len(seen) == 2 and all(a == want for _, a in seen), (
                f"{who}: the service-mode token did not reach the REST backend: {seen}")
        else:
            assert len(e.fake.seen) == before, f"{who}: a refused call reached the backend"


def _failures(e: SecretsEdge) -> None:
    s = e.s
    for who, auth in (
        ("alice wrong", {"token": "alice:" + s["alice wrong password"]}),
        ("alice wrong (user/password)", {"user": "alice", "password": s["alice wrong password"]}),
        ("mallory", {"token": "mallory:" + s["mallory password"]}),
        ("wrong api key", {"token": s["wrong api key"]}),
        ("forged jwt", {"token": e.jwt("forged jwt", key=e.forger)}),
        ("expired jwt", {"token": e.jwt("expired jwt", exp_in=-3600)}),
    ):
        def call(auth=auth):
            c = MilvusClient(uri=e.uri, timeout=10, **auth)
            try:
                c.has_collection("svc_docs", timeout=10)
            finally:
                c.close()
        _refused(call, who)
    _rest_traffic(e, ok=False)
    _malformed(e)


def _malformed(e: SecretsEdge) -> None:
    """Authorization headers the edge cannot parse: a refusal must not echo them."""
    bad = e.s["secret in a malformed header"]
    values = [
        "%%" + bad,  # not base64
        "Basic " + base64.b64encode(f"alice:{bad}".encode()).decode(),
        "Bearer alice:" + bad,
        bad,
    ]
    with grpc.insecure_channel(f"127.0.0.1:{e.ports['listener']}") as ch:
        call = ch.unary_unary("/milvus.proto.milvus.MilvusService/DescribeCollection",
                              request_serializer=None, response_deserializer=None)
        for v in values:
            try:
                call(b"", metadata=[("authorization", v)], timeout=10)
            except grpc.RpcError as err:
                assert err.code() != grpc.StatusCode.OK, v
            else:
                pytest.fail(f"gRPC call with authorization {v[:12]}… was let through")
    for v in values + ["Token " + bad, "Bearer " + base64.b64encode(f"alice:{bad}".encode()).decode()]:
        got = e.rest("/v2/vectordb/collections/describe", v, {"collectionName": "rest_docs"})
        assert got.get("code") not in (0, None), f"REST with authorization {v[:12]}…: {got}"


def _status(e: SecretsEdge) -> dict:
    return json.loads(e.admin_get("/v1/status"))


def _reloads(e: SecretsEdge) -> None:
    """A rotated cluster password (picked up by a reload) and a refused reload."""
    first = _status(e)["config"]["file_hash"]
    e.svc_pw.write_text(e.s["svc cluster password (rotated)"] + "\n")
    edgelib.write_config(e.cfg, e.config_path)
    e.config_path.write_text(e.config_path.read_text() + "# svc password rotated\n")
    _wait(lambda: _status(e)["config"]["file_hash"] != first, "the rotated password's reload")
    assert _status(e)["config"]["last_error"] == "", _status(e)["config"]
    bad = yaml.safe_load(e.config_path.read_text())
    bad["clusters"][0]["credential"]["password_file"] = str(e.work / "no-such-file")
    e.config_path.write_text(yaml.safe_dump(bad, sort_keys=False))
    _wait(lambda: "no-such-file" in _status(e)["config"]["last_error"], "the refused reload")
    edgelib.write_config(e.cfg, e.config_path)
    _wait(lambda: _status(e)["config"]["last_error"] == "", "the good config back")


def _wait(cond, what: str, limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, f"{what}: not within {limit:.0f}s"
        time.sleep(0.1)


def _outputs(e: SecretsEdge) -> Dict[str, str]:
    out = {
        "edge stderr (Envoy and milvus-lite relayed)": e.proc.stderr_text(),
        "edge stdout": "\n".join(e.proc.stdout_lines),
        "decision log": _read(e.decision_log),
        "access log": _read(e.access_log),
    }
    for path in ("/healthz", "/v1/status", "/v1/policy", "/debug/pprof/",
                 "/debug/pprof/goroutine?debug=2", "/debug/pprof/heap?debug=1"):
        out[f"edge admin GET {path}"] = e.admin_get(path)
    for path in ("/config_dump?include_eds", "/config_dump?include_eds&format=json",
                 "/stats", "/stats?format=json", "/stats/prometheus", "/clusters",
                 "/clusters?format=json", "/listeners", "/listeners?format=json",
                 "/server_info", "/runtime", "/certs", "/memory", "/ready"):
        out[f"Envoy admin GET {path}"] = edgelib.http_get(e.envoy_admin + path, timeout=30)
    # Envoy's bootstrap, from its command line (-c FILE).
    for pid in edgelib.listening_pids(e.ports["envoy_admin"]):
        argv = edgelib.cmdline(pid)
        if "-c" in argv:
            boot = Path(argv[argv.index("-c") + 1])
            out[f"Envoy bootstrap {boot}"] = _read(boot)
    # Every other file the stack wrote under its work dir (milvus-lite's too).
    inputs = {p.resolve() for p in e.inputs}
    for p in sorted(e.work.rglob("*")):
        if p.is_file() and not any(p.resolve() == i or i in p.resolve().parents for i in inputs):
            out.setdefault(f"file {p.relative_to(e.work)}", _read(p))
    return out


def test_no_secret_in_any_output(sedge):
    e = sedge
    _grpc_traffic(e)
    _rest_traffic(e, ok=True)
    _reloads(e)
    _grpc_traffic(e)  # with the rotated cluster password
    _failures(e)

    # The logs hold what was sent: the failed logins are audited by name (not
    # by secret) and Envoy flushed the REST calls (within ~1 s).
    _wait(lambda: "mallory" in _read(e.decision_log), "mallory's failed login in the decision log")
    _wait(lambda: _read(e.access_log).count("/v2/vectordb/") >= 24, "the REST calls in the access log")
    outputs = _outputs(e)
    for where in ("decision log", "access log", "edge admin GET /v1/status",
                  "Envoy admin GET /config_dump?include_eds"):
        assert len(outputs[where]) > 100, f"{where} is empty: the grep would prove nothing"
    if os.environ.get("SECRETS_DUMP_DIR"):  # to look at what was searched
        dump = Path(os.environ["SECRETS_DUMP_DIR"])
        dump.mkdir(parents=True, exist_ok=True)
        for i, (where, text) in enumerate(outputs.items()):
            (dump / f"{i:02d}-{re.sub(r'[^A-Za-z0-9._-]+', '_', where)[:80]}").write_text(text)
        (dump / "secrets.json").write_text(json.dumps({**e.s, **e.extra}, indent=1))
    # Control: the needles find the service-mode token where it must be, in
    # what the REST backend received (base64 of nothing; raw in "Bearer tokuser:…").
    control = find_secrets(e.secret_forms(), {"fake REST backend": repr(e.fake.seen)})
    assert any(h.startswith("rest cluster token (raw)") for h in control), control
    hits = find_secrets(e.secret_forms(), outputs)
    assert not hits, "secrets found in the stack's outputs:\n" + "\n".join(hits)


def test_encodings_find_embedded_secrets():
    """The needles find a secret inside the base64 of a longer string at any
    offset, and do not match a different secret."""
    sec = _secret("Alice-pw")
    forms = _secret_forms({"x": sec})
    for prefix in ("", "a", "ab", "alice:", "Bearer alice:", "xyz:"):
        for suffix in ("", "!", "?!", ":tail"):
            whole = (prefix + sec + suffix).encode()
            for enc in (base64.b64encode, base64.urlsafe_b64encode):
                assert find_secrets(forms, {"t": enc(whole).decode()}), (prefix, suffix)
    assert not find_secrets(forms, {"t": base64.b64encode(_secret("Alice-pw").encode()).decode()})
