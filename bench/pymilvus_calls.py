"""One pymilvus client making sequential calls, for `make bench`'s real-Milvus
rows (bench/cmd/ladder/pymilvus.go runs it with the repo's .venv python).

    pymilvus_calls.py URI TOKEN COLLECTION OP CALLS WARMUP

OP is search (nq 1, dim 128, topk 10, L2; the ladder's vector) or query
(`id < 100`, limit 10, output id). After WARMUP calls it prints "start" (the
ladder samples CPU then), makes CALLS calls, and prints one JSON line:
{"calls", "errors", "seconds", "p50_us", "p90_us", "p99_us"} over the calls
that succeeded.
"""

from __future__ import annotations

import json
import math
import sys
import time

from pymilvus import MilvusClient

DIM = 128


def vector(seed: int) -> list[float]:
    """The Go loader's vector(seed) (bench/cmd/ladder/load.go)."""
    return [((i * 31 + seed * 17) % 97) / 97 for i in range(DIM)]


def main() -> int:
    uri, token, collection, op, calls, warmup = sys.argv[1:7]
    calls, warmup = int(calls), int(warmup)
    c = MilvusClient(uri=uri, token=token, timeout=30)
    vec = [vector(7)]
    if op == "search":
        def call():
            hits = c.search(collection, data=vec, limit=10, anns_field="vector",
                            search_params={"metric_type": "L2", "params": {}})
            if len(hits[0]) != 10:
                raise RuntimeError(f"search returned {len(hits[0])} hits")
    elif op == "query":
        def call():
            c.query(collection, filter="id < 100", limit=10, output_fields=["id"])
    else:
        raise SystemExit(f"unknown op {op!r}")
    for _ in range(warmup):
        call()
    print("start", flush=True)
    lat, errors = [], 0
    t0 = time.perf_counter()
    for _ in range(calls):
        s = time.perf_counter()
        try:
            call()
        except Exception as e:  # counted, the first one shown
            if errors == 0:
                print(f"error: {e}", file=sys.stderr, flush=True)
            errors += 1
            continue
        lat.append(time.perf_counter() - s)
    seconds = time.perf_counter() - t0
    c.close()
    lat.sort()

    def q(p: float) -> float:
        if not lat:
            return 0.0
        return lat[max(0, math.ceil(len(lat) * p) - 1)] * 1e6  # as the Go loader's Quantile

    print(json.dumps({"calls": len(lat), "errors": errors, "seconds": seconds,
                      "p50_us": q(0.50), "p90_us": q(0.90), "p99_us": q(0.99)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
