"""Fixtures for the milvus-edge end-to-end suite, each started by the real
`milvus-edge run`: `edge` (Envoy + filters + xDS + two milvus-lite backends)
and `standalone_edge` (the same in front of a real Milvus 2.3.5 standalone
with authentication on, launched by the edge)."""

from __future__ import annotations

import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import pytest

import edgelib

from edgelib import READY_TIMEOUT, STOP_TIMEOUT


@dataclass
class Gateway:
    """Addresses of a running gateway."""

    process: edgelib.EdgeProcess
    listener: str  # host:port clients dial
    uri: str  # http://listener for MilvusClient
    envoy_admin_url: str
    edge_admin_url: str


@dataclass
class Edge(Gateway):
    """A running gateway in front of the milvus-lite servers it launched."""

    backends: Dict[str, str]  # cluster name -> milvus-lite host:port
    data_dirs: Dict[str, Path]
    ports: Dict[str, int]

    def backend_uri(self, cluster: str) -> str:
        return f"http://{self.backends[cluster]}"


def start_edge(workdir: Path, cfg: dict, owner: str) -> edgelib.EdgeProcess:
    path = edgelib.write_config(cfg, workdir / "milvus-edge.yaml")
    return edgelib.EdgeProcess(path, workdir, owner).start()


def start_ready_edge(workdir: Path, cfg: dict, owner: str, listener: int,
                     all_ports: List[int], needles: List[str],
                     timeout: float = READY_TIMEOUT) -> edgelib.EdgeProcess:
    """Start `milvus-edge run` and wait for its ready line; on failure kill what it started."""
    proc = start_edge(workdir, cfg, owner=owner)
    try:
        proc.wait_for_line(f"milvus-edge ready on 127.0.0.1:{listener}", timeout)
    except BaseException:
        if proc.proc.poll() is None:
            proc.kill_group()
        edgelib.kill_leftovers(all_ports, needles)
        proc.close()
        raise
    return proc


def stop_edge(proc: edgelib.EdgeProcess, child_ports: List[int], all_ports: List[int],
              needles: List[str]) -> None:
    """SIGINT → exit 0 within STOP_TIMEOUT, and the children's ports are closed.
    Whatever the outcome, nothing this test started is left running."""
    problems = []
    try:
        if proc.proc.poll() is not None:
            problems.append(
                f"milvus-edge was no longer running at teardown (exit code {proc.proc.returncode})"
            )
        else:
            proc.signal(signal.SIGINT)
            rc = proc.wait(STOP_TIMEOUT)
            if rc is None:
                problems.append(f"milvus-edge still running {STOP_TIMEOUT:.0f}s after SIGINT")
            elif rc != 0:
                problems.append(f"milvus-edge exited with code {rc} after SIGINT (want 0)")
        still = [p for p in child_ports if edgelib.is_listening(p)]
        if still:
            owners = {p: [" ".join(edgelib.cmdline(pid))[:160] for pid in edgelib.listening_pids(p)]
                      for p in still}
            problems.append(f"ports still listening after milvus-edge exited: {owners}")
        if proc.stdout_lines != [f"milvus-edge ready on 127.0.0.1:{all_ports[0]}"]:
            problems.append(f"stdout must be exactly one ready line, got {proc.stdout_lines!r}")
    finally:
        if proc.proc.poll() is None:
            proc.kill_group()
        killed = edgelib.kill_leftovers(all_ports, needles)
        if killed:
            problems.append("killed leftovers: " + "; ".join(killed))
        proc.close()
    if problems:
        pytest.fail("\n".join(problems) + "\n" + proc.describe(), pytrace=False)


@pytest.fixture(scope="session")
def edge(tmp_path_factory) -> Edge:
    """The shared gateway: clusters a and b (one milvus-lite each); collections
    tenant_a_* route to a, everything else to b."""
    edgelib.require_binaries()
    work = tmp_path_factory.mktemp("edge")
    names = ["listener", "envoy_admin", "xds", "filters", "edge_admin", "lite_a", "lite_b"]
    ports = dict(zip(names, edgelib.free_ports(len(names))))
    dirs = {"a": work / "a", "b": work / "b"}
    cfg = edgelib.edge_config(
        ports,
        clusters={"a": [ports["lite_a"]], "b": [ports["lite_b"]]},
        routes=[
            {"name": "tenant-a", "collection": "tenant_a_*", "cluster": "a"},
            {"name": "default", "cluster": "b"},
        ],
        lites=[(ports["lite_a"], dirs["a"]), (ports["lite_b"], dirs["b"])],
    )
    # Rate limits on with nothing configured but Milvus's own properties: the
    # differential suite checks that the limiter changes no answer.
    cfg["rate_limit"] = {"enabled": True}
    all_ports = [ports[n] for n in names]
    child_ports = [ports["listener"], ports["envoy_admin"], ports["lite_a"], ports["lite_b"]]
    needles = [str(work)]
    proc = start_ready_edge(work, cfg, "session", ports["listener"], all_ports, needles)
    yield Edge(
        process=proc,
        listener=f"127.0.0.1:{ports['listener']}",
        uri=f"http://127.0.0.1:{ports['listener']}",
        envoy_admin_url=f"http://127.0.0.1:{ports['envoy_admin']}",
        edge_admin_url=f"http://127.0.0.1:{ports['edge_admin']}",
        backends={"a": f"127.0.0.1:{ports['lite_a']}", "b": f"127.0.0.1:{ports['lite_b']}"},
        data_dirs=dirs,
        ports=ports,
    )
    stop_edge(proc, child_ports, all_ports, needles)


@dataclass
class StandaloneEdge(Gateway):
    """A running gateway in front of the Milvus standalone it launched."""

    direct_uri: str  # http://127.0.0.1:port of the standalone itself (bypasses the edge)
    metrics_url: str  # http://127.0.0.1:port of Milvus's own /metrics and /healthz
    token: str  # root:Milvus, valid at the edge and at Milvus
    data_dir: Path
    ports: Dict[str, int]


# A standalone's first start unpacks Milvus (~250 MB) and starts etcd and every
# coordinator: ~10 s on an idle machine, the wrapper's own limit is 180 s.
STANDALONE_READY_TIMEOUT = 240.0


@pytest.fixture(scope="session")
def standalone_edge(tmp_path_factory) -> StandaloneEdge:
    """The edge in front of a real Milvus standalone (PyPI milvus==2.3.5, from
    $MILVUS_SERVER_BIN) with authorization on (root / Milvus), launched by
    `milvus-edge run` (launch.milvus_standalone). Clusters: m and m_service,
    both the standalone; collections svc_* route to m_service, everything else
    to m. Fails, never skips, when the standalone cannot start."""
    edgelib.require_binaries()
    work = tmp_path_factory.mktemp("standalone_edge")
    names = ["listener", "envoy_admin", "xds", "filters", "edge_admin", "milvus"]
    ports = dict(zip(names, edgelib.free_ports(len(names))))
    data_dir = work / "milvus"
    cfg = edgelib.edge_config(
        ports,
        clusters={"m": [ports["milvus"]], "m_service": [ports["milvus"]]},
        routes=[
            {"name": "service", "collection": "svc_*", "cluster": "m_service"},
            {"name": "default", "cluster": "m"},
        ],
        lites=[],
    )
    cfg["launch"] = {"milvus_standalone": [
        {"address": f"127.0.0.1:{ports['milvus']}", "data_dir": str(data_dir), "authorization": True},
    ]}
    clusters = {c["name"]: c for c in cfg["clusters"]}
    assert set(clusters) == {"m", "m_service"}
    # The edge's own credential for this Milvus (schema fills on both
    # clusters; sent instead of the caller's on m_service), from a file as in
    # production. Milvus 2.3 serves no REST v2.
    secret = work / "milvus-root-password"
    secret.write_text("Milvus\n")
    secret.chmod(0o600)
    for c in clusters.values():
        c["credential"] = {"user": "root", "password_file": str(secret)}
        c["rest"] = False
    clusters["m_service"]["forward"] = "service"
    cfg["rate_limit"] = {"enabled": True}  # Milvus's properties only (as for `edge`)

    all_ports = [ports[n] for n in names]
    needles = [str(work)]
    proc = start_ready_edge(work, cfg, "session", ports["listener"], all_ports, needles,
                            timeout=STANDALONE_READY_TIMEOUT)
    ready = proc.log_records("milvus standalone ready")
    if len(ready) != 1 or not ready[0].get("metrics", "").endswith("/metrics"):
        proc.kill_group()
        edgelib.kill_leftovers(all_ports, needles)
        pytest.fail(f"want one 'milvus standalone ready' log line with its metrics URL, got {ready}\n"
                    + proc.describe(), pytrace=False)
    metrics_url = ready[0]["metrics"][: -len("/metrics")]
    metrics_port = int(metrics_url.rsplit(":", 1)[1])
    yield StandaloneEdge(
        process=proc,
        listener=f"127.0.0.1:{ports['listener']}",
        uri=f"http://127.0.0.1:{ports['listener']}",
        envoy_admin_url=f"http://127.0.0.1:{ports['envoy_admin']}",
        edge_admin_url=f"http://127.0.0.1:{ports['edge_admin']}",
        direct_uri=f"http://127.0.0.1:{ports['milvus']}",
        metrics_url=metrics_url,
        token=edgelib.TOKEN,
        data_dir=data_dir,
        ports=dict(ports, milvus_metrics=metrics_port),
    )
    child_ports = [ports["listener"], ports["envoy_admin"], ports["milvus"], metrics_port]
    stop_edge(proc, child_ports, all_ports + [metrics_port], needles)
    shutil.rmtree(data_dir, ignore_errors=True)  # ~500 MB, mostly Milvus's unpacked binaries


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On any failure (setup, call, teardown) attach the relevant milvus-edge stderr."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for p in edgelib.REGISTRY:
            # Module-scoped stacks are owned by their module's nodeid.
            if p.owner in ("session", item.nodeid) or item.nodeid.startswith(p.owner + "::"):
                rep.sections.append(
                    (f"milvus-edge stderr [{p.owner}] ({p.stderr_path})", p.stderr_tail(120))
                )
