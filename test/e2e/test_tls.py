"""TLS on the client port, end to end through `milvus-edge run`.

This module runs its own gateway (Envoy + filters + xDS + one milvus-lite)
whose listener serves TLS with a certificate from a test CA made here (the
`cryptography` package), and asks for client certificates from a second CA
without requiring them (listener.tls.client_ca_file, require_client_cert
false). Its policy bundle is the default one plus one rule: the workload with
the SPIFFE id INDEXER_ID, authenticated by its client certificate alone
(input.identity.method "mtls"), may do anything in database default.

- pymilvus with an https:// URI and the CA (server_pem_path) creates, inserts,
  indexes, searches and queries; with an http:// URI it fails with the edge's
  reason;
- curl (the system's) POSTs REST v2 calls with --cacert over HTTP/2 and
  HTTP/1.1 and gets Milvus's JSON; without the CA it refuses the server;
- mTLS (last: it depends on the authz side's mtls identity): pymilvus with
  client_pem_path / client_key_path / ca_pem_path and no token works as the
  workload; another trusted certificate with an id the policy does not name is
  refused with Milvus's message.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

import edgelib
from conftest import start_ready_edge, stop_edge

DIM = 8
INDEXER_ID = "spiffe://example.org/ns/search/sa/indexer"
STRANGER_ID = "spiffe://example.org/ns/batch/sa/stranger"

# The security team's rule on the workload's SPIFFE id (docs/policy-contract.md:
# a verified client certificate and no authorization header → method mtls,
# user = the certificate's SPIFFE URI SAN).
MTLS_REGO = f"""package milvus.authz

allow if {{
	input.identity.method == "mtls"
	input.identity.user == "{INDEXER_ID}"
	input.milvus.db == "default"
}}
"""


class CA:
    """A test CA (ECDSA P-256, valid for a day) that writes PEM files."""

    def __init__(self, workdir: Path, name: str):
        self.dir = workdir
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_file = workdir / f"{name.replace(' ', '-')}.pem"
        self.cert_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, sans: list, client: bool = False) -> tuple:
        """Write name.pem and name-key.pem signed by this CA; return their paths."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        eku = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_file, key_file = self.dir / f"{name}.pem", self.dir / f"{name}-key.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        key_file.chmod(0o600)
        return cert_file, key_file


@dataclass
class TLSEdge:
    proc: edgelib.EdgeProcess
    port: int
    ca: Path  # the server CA, for clients
    indexer: tuple  # (cert, key): SPIFFE id INDEXER_ID, from the client CA
    stranger: tuple  # (cert, key): SPIFFE id STRANGER_ID, from the client CA
    edge_admin_url: str

    @property
    def https_uri(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def tls_edge(request, tmp_path_factory) -> TLSEdge:
    edgelib.require_binaries()
    work = tmp_path_factory.mktemp("tls_edge")
    names = ["listener", "envoy_admin", "xds", "filters", "edge_admin", "lite"]
    ports = dict(zip(names, edgelib.free_ports(len(names))))
    pki = work / "pki"
    pki.mkdir()
    server_ca, client_ca = CA(pki, "edge server CA"), CA(pki, "workload CA")
    server_cert, server_key = server_ca.issue(
        "server", [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    indexer = client_ca.issue("indexer", [x509.UniformResourceIdentifier(INDEXER_ID)], client=True)
    stranger = client_ca.issue("stranger", [x509.UniformResourceIdentifier(STRANGER_ID)], client=True)

    bundle = edgelib.policy_bundle(work / "bundle", {"milvus": {
        "settings": {"root_bypass": True},
        "users": {"root": {"password_hash": edgelib.hash_password("Milvus"), "roles": []}},
        "api_keys": [],
        "roles": {},
    }})
    (bundle / "milvus" / "authz" / "mtls.rego").write_text(MTLS_REGO)

    cfg = edgelib.edge_config(
        ports,
        clusters={"default": [ports["lite"]]},
        routes=[{"name": "default", "cluster": "default"}],
        lites=[(ports["lite"], work / "lite")],
    )
    cfg["clusters"][0]["rest"] = False  # milvus-lite speaks gRPC only
    cfg["listener"]["tls"] = {
        "cert_file": str(server_cert),
        "key_file": str(server_key),
        "client_ca_file": str(client_ca.cert_file),
        "require_client_cert": False,
    }
    cfg["auth"] = {"policy_dir": str(bundle)}
    all_ports = [ports[n] for n in names]
    child_ports = [ports["listener"], ports["envoy_admin"], ports["lite"]]
    needles = [str(work)]
    proc = start_ready_edge(work, cfg, request.node.nodeid, ports["listener"], all_ports, needles)
    try:
        yield TLSEdge(proc, ports["listener"], server_ca.cert_file, indexer, stranger,
                      f"http://127.0.0.1:{ports['edge_admin']}")
    finally:
        stop_edge(proc, child_ports, all_ports, needles)




def test_pymilvus_over_tls(tls_edge):
    """pymilvus with an https:// URI and the CA (server_pem_path): the whole
    workload through the TLS listener."""
    c = MilvusClient(uri=tls_edge.https_uri, token=edgelib.TOKEN, server_pem_path=str(tls_edge.ca),
                     timeout=60)
    try:
        edgelib.crud_workload(c, edgelib.unique_name("tls"), drop=True)
    finally:
        c.close()


def test_pymilvus_plaintext_uri_fails_clearly(tls_edge):
    """An http:// URI to the TLS port fails, and says why. dedicated=True:
    pymilvus shares connections by host:port and token, not scheme, so a
    plaintext client would otherwise reuse the TLS connection of an earlier
    https:// client to the same address."""
    with edgelib.quiet_logger("pymilvus"), pytest.raises(MilvusException) as exc:
        MilvusClient(uri=f"http://127.0.0.1:{tls_edge.port}", token=edgelib.TOKEN, timeout=10,
                     dedicated=True)
    text = f"{exc.value} {exc.value.__cause__!r}"
    assert "this port requires TLS" in text, text


def _curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args],
                          capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("http", ["--http2", "--http1.1"])
def test_curl_rest_over_tls(tls_edge, http):
    """curl POSTs REST v2 calls with --cacert and gets Milvus's JSON: the edge's
    answer for a cluster that serves no REST (milvus-lite), and Milvus's
    authentication failure for a wrong password."""
    url = f"{tls_edge.https_uri}/v2/vectordb/collections/list"
    want_version = {"--http2": "2", "--http1.1": "1.1"}[http]
    for token, status, code in (("root:Milvus", "200", 10), ("root:wrong", "401", 1800)):
        out = _curl(http, "--cacert", str(tls_edge.ca), "-X", "POST", url,
                    "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
                    "-d", "{}", "-w", "\n%{http_version} %{http_code}")
        assert out.returncode == 0, out.stderr
        body, _, meta = out.stdout.rpartition("\n")
        assert meta == f"{want_version} {status}", (meta, body)
        got = json.loads(body)
        assert got["code"] == code, got
    # Without the CA curl refuses the server (exit 60: peer certificate cannot be authenticated).
    out = _curl(http, "-X", "POST", url, "-d", "{}")
    assert out.returncode == 60, (out.returncode, out.stderr)
    # Plain http:// to the TLS port: the edge says why.
    out = _curl("-X", "POST", f"http://127.0.0.1:{tls_edge.port}/v2/vectordb/collections/list",
                "-d", "{}", "-w", "\n%{http_code}")
    assert out.stdout.endswith("\n400") and "this port requires TLS" in out.stdout, out.stdout


def test_status_shows_the_listener_certificate(tls_edge):
    """/v1/status names the served certificate (serial, not_after) and no key."""
    status = json.loads(edgelib.http_get(f"{tls_edge.edge_admin_url}/v1/status"))
    lt = status["xds"]["listener_tls"]
    assert lt["serial"] and lt["not_after"] and lt["client_cas"] == 1, lt
    assert "PRIVATE KEY" not in json.dumps(status)


# Depends on the authz side of mTLS (input.identity method "mtls"): keep it last.
def test_mtls_workload_allowed_by_spiffe_rule(tls_edge):
    """A client certificate from the trusted CA and no token: the workload named
    by the policy's SPIFFE rule runs the whole workload; another trusted
    certificate whose id the policy does not name is refused with Milvus's
    message."""
    # dedicated=True: pymilvus shares connections by host:port and token; two
    # clients with different certificates and no token would otherwise share
    # the first one's connection, and so its identity.
    def client(cert_key):
        return MilvusClient(uri=tls_edge.https_uri, client_pem_path=str(cert_key[0]),
                            client_key_path=str(cert_key[1]), ca_pem_path=str(tls_edge.ca), timeout=60,
                            dedicated=True)

    indexer = client(tls_edge.indexer)
    stranger = client(tls_edge.stranger)
    try:
        edgelib.crud_workload(indexer, edgelib.unique_name("mtls"), drop=True)
        name = edgelib.unique_name("mtls")
        indexer.create_collection(name, dimension=DIM)
        # pymilvus re-raises a gRPC PERMISSION_DENIED as the grpc.RpcError itself.
        with edgelib.quiet_logger("pymilvus"), pytest.raises(grpc.RpcError) as exc:
            stranger.insert(name, [{"id": 1, "vector": [0.0] * DIM}])
        want = f"PrivilegeInsert: permission deny to {STRANGER_ID} in the `default` database"
        assert (exc.value.code(), exc.value.details()) == (grpc.StatusCode.PERMISSION_DENIED, want), exc.value
        indexer.drop_collection(name)
    finally:
        indexer.close()
        stranger.close()
