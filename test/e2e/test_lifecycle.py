"""`milvus-edge run` supervision: a dead child takes the edge down with a non-zero
exit; an invalid config is refused before anything starts."""

import json
import os
import re
import signal
import time

import pytest

import edgelib
from edgelib import READY_TIMEOUT

CHILD_DEATH_EXIT_TIMEOUT = 15.0
BAD_CONFIG_EXIT_TIMEOUT = 10.0
MILVUS_LITE_RE = re.compile(r"milvus[-_]lite", re.IGNORECASE)


@pytest.fixture
def solo(tmp_path, request):
    """Ports, data dir and config of a one-cluster, one-milvus-lite edge; whatever the
    test starts under tmp_path or on these ports is killed afterwards."""
    names = ["listener", "envoy_admin", "xds", "filters", "edge_admin", "lite"]
    ports = dict(zip(names, edgelib.free_ports(len(names))))
    data_dir = tmp_path / "lite"
    cfg = edgelib.edge_config(
        ports,
        clusters={"only": [ports["lite"]]},
        routes=[{"name": "default", "cluster": "only"}],
        lites=[(ports["lite"], data_dir)],
    )
    state = {"ports": ports, "data_dir": data_dir, "cfg": cfg, "tmp": tmp_path, "procs": []}

    def start(config):
        path = edgelib.write_config(config, tmp_path / "milvus-edge.yaml")
        p = edgelib.EdgeProcess(path, tmp_path, owner=request.node.nodeid).start()
        state["procs"].append(p)
        return p

    state["start"] = start
    yield state
    for p in state["procs"]:
        if p.proc.poll() is None:
            p.kill_group()
        p.close()
    edgelib.kill_leftovers(ports.values(), [str(tmp_path)])


def _error_lines_naming_milvus_lite(text):
    """Error reports naming milvus-lite: a JSON log record at level ERROR, or the
    binary's fatal "milvus-edge: ..." line printed before a non-zero exit."""
    out = []
    for line in text.splitlines():
        if not MILVUS_LITE_RE.search(line):
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        if isinstance(rec, dict):
            if str(rec.get("level", "")).upper() == "ERROR":
                out.append(line)
        elif line.startswith("milvus-edge:") or "ERROR" in line.upper():
            out.append(line)
    return out


def test_run_lifecycle(solo):
    ports, data_dir = solo["ports"], solo["data_dir"]
    proc = solo["start"](solo["cfg"])
    proc.wait_for_line(f"milvus-edge ready on 127.0.0.1:{ports['listener']}", READY_TIMEOUT)
    assert proc.proc.poll() is None, proc.describe()
    assert edgelib.is_listening(ports["envoy_admin"]), "envoy admin not listening after ready"

    listeners = edgelib.listening_pids(ports["lite"])
    assert listeners, f"nothing listens on the milvus-lite port {ports['lite']}"
    named = edgelib.pids_with_cmdline_containing(str(data_dir))
    victims = listeners & named
    assert victims, (
        f"listeners on {ports['lite']} {listeners} are not a milvus-lite on {data_dir}: "
        f"{[edgelib.cmdline(p) for p in listeners]}"
    )

    offset = len(proc.stderr_text())
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()

    rc = proc.wait(CHILD_DEATH_EXIT_TIMEOUT)
    assert rc is not None, (
        f"milvus-edge still running {CHILD_DEATH_EXIT_TIMEOUT:.0f}s after its milvus-lite "
        f"(pid {sorted(victims)}) was killed\n{proc.describe()}"
    )
    took = time.monotonic() - killed_at
    assert rc != 0, f"milvus-edge exited 0 after its milvus-lite died\n{proc.describe()}"

    after = proc.stderr_text()[offset:]
    assert _error_lines_naming_milvus_lite(after), (
        f"no error-level log line naming milvus-lite after the kill (exit {rc} in {took:.1f}s)\n"
        f"--- stderr after the kill ---\n{after[-6000:]}"
    )
    # Stopping means stopping every child: Envoy must be gone too.
    still = [p for p in (ports["listener"], ports["envoy_admin"]) if edgelib.is_listening(p)]
    assert not still, (
        f"Envoy ports {still} still listening after milvus-edge exited: "
        f"{[edgelib.cmdline(pid) for p in still for pid in edgelib.listening_pids(p)]}"
    )


def test_bad_config_fails_fast(solo):
    cfg = dict(solo["cfg"])
    cfg["routes"] = [{"name": "default", "cluster": "no-such-cluster"}]
    started = time.monotonic()
    proc = solo["start"](cfg)
    rc = proc.wait(BAD_CONFIG_EXIT_TIMEOUT)
    took = time.monotonic() - started
    assert rc is not None, (
        f"milvus-edge still running {BAD_CONFIG_EXIT_TIMEOUT:.0f}s after a bad config\n"
        f"{proc.describe()}"
    )
    assert rc != 0, f"milvus-edge exited 0 on a bad config\n{proc.describe()}"
    out = proc.stderr_text() + "\n".join(proc.stdout_lines)
    assert "routes[0].cluster" in out, (
        f"error does not name routes[0].cluster (exit {rc} in {took:.1f}s)\n{proc.describe()}"
    )
    assert not any("ready" in line for line in proc.stdout_lines), proc.describe()
    assert not edgelib.is_listening(solo["ports"]["lite"]), "milvus-lite started on a bad config"
    assert not edgelib.is_listening(solo["ports"]["envoy_admin"]), "envoy started on a bad config"
