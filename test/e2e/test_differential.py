"""Differential test: one pymilvus workload (workload.py) runs directly against
a backend and through the edge, and every answer is compared — rows, ids,
scores, counts, error codes and messages.

A difference is either a bug (the test fails and prints the call and both
answers) or one of the rules the edge applies on purpose, listed in ALLOW
below with its reason (each names the call and both answers; the edge's
answer must match exactly). Each backend prints one summary line:

    differential[lite]: N calls compared, 0 unexplained, K explained

Backends: "lite" is the session `edge` (milvus-lite; the default route goes to
cluster b, so direct = edge.backend_uri("b")); "standalone" is the PyPI
`milvus==2.3.5` standalone with auth on, from the `standalone_edge` fixture.
Each gets the workload its kind supports (workload.run branches on the kind).
"""

from __future__ import annotations

import os
import re
import time
from types import SimpleNamespace

import pytest

import workload
import edgelib
from edgelib import TOKEN
from workload import LITE, STANDALONE, Explained

CODE_UNEXPECTED = 65535
CODE_NOT_FOUND = 100
CODE_PARAM = 1100
TOPK_RANGE = "it should be in range [1, 16384], but got 20000"


# ------------------------------------------------------------------ the allow-list
# Each entry: the rule (copied into the README), where it applies, the call, what
# the backend answers directly, exactly what the edge answers instead, and why.
# The edge refuses these itself with the Milvus Proxy's own code and reason
# (extproc/validate); milvus-lite validates less, or words it differently.

NF = "collection not found[database=default][collection={}]"


def _lite_nf(coll: str) -> tuple:
    return (CODE_NOT_FOUND, f"collection '{coll}' does not exist")


def _edge_nf(coll: str) -> tuple:
    return (CODE_NOT_FOUND, NF.format(coll))


# The Milvus 2.3.5 query node's answer to a query vector of the wrong size.
QN_DIM = re.compile(r"failed to search/query delegator 1 for channel <channel>: fail to Search, "
                    r"QueryNode ID=<n>, reason=worker\(<n>\) query failed: Assert "
                    r"\"field_meta.get_sizeof\(\) == element.line_sizeof_\" at \S+\n"
                    r" => vector dimension mismatch: service internal error: UnknownError")
BAD_NAME_DASH = (CODE_PARAM, "Invalid collection name: dx*_bad-name.  collection name can only "
                             "contain numbers, letters and underscores: invalid parameter")
BAD_NAME_1 = (CODE_PARAM, "Invalid collection name: 1dx*_bad.  the first character of a "
                          "collection name must be an underscore or letter: invalid parameter")

ALLOW = [
    Explained(
        "proxy-stricter", [LITE],
        "The edge applies the Milvus Proxy's request rules (extproc/validate) to Search, Query, "
        "Insert, Upsert, Delete, HybridSearch and to collection names. milvus-lite accepts some "
        "requests Milvus refuses; through the edge they are refused exactly as Milvus refuses "
        "them (code and reason), and the backend never sees them.",
        {
            "mistake: search topk 20000":
                ("ok", (CODE_UNEXPECTED, f"topk [20000] is invalid, {TOPK_RANGE}")),
            "mistake: search offset+topk 20000":
                ("ok", (CODE_UNEXPECTED, f"offset+topk [20000] is invalid, {TOPK_RANGE}")),
            "mistake: query limit without filter too big":
                ("ok", (CODE_UNEXPECTED, "invalid max query result window, (offset+limit) "
                                         "should be in range [1, 16384], but got 20000")),
            "mistake: search wrong dim":  # lite: faiss assertion, code 1, empty reason
                ((1, ""), (CODE_UNEXPECTED, "vector dimension mismatch, expected vector "
                                            "size(byte) 32, actual 16.")),
            "mistake: create bad name 1abc": ("ok", BAD_NAME_1),
            # Milvus's Search does not check names, it looks them up: a name no
            # Milvus collection can have is "collection not found" (lite created it).
            "mistake: search bad name 1abc": ("ok", _edge_nf("1dx*_bad")),
            "mistake: create bad name with dash": ("ok", BAD_NAME_DASH),
            "mistake: insert NaN in vector":
                ("ok", (CODE_UNEXPECTED, "value 'NaN' is not a number or infinity")),
            "mistake: search unknown output field":
                ("ok", (CODE_UNEXPECTED, "field nope_field not exist")),
            "mistake: search unknown partition":
                ("ok", (CODE_UNEXPECTED, "partition name nope_p not found")),
            "mistake: insert autoid with explicit id":
                ("ok", (CODE_PARAM, "more fieldData has pass in: invalid "
                                    "parameter[expected=3][actual=4]")),
        }),
    Explained(
        "proxy-wording", [LITE],
        "Where milvus-lite refuses a request in its own words, the edge (which validates it "
        "first, with the Milvus Proxy's rules) answers with the Milvus Proxy's code and reason: "
        "clients see Milvus's errors whatever the backend.",
        {
            "mistake: search unknown collection": (_lite_nf("dx*_nope"), _edge_nf("dx*_nope")),
            "mistake: query unknown collection": (_lite_nf("dx*_nope"), _edge_nf("dx*_nope")),
            "mistake: search indb from default db (not there)": (_lite_nf("indb"), _edge_nf("indb")),
            "mistake: search old name after rename": (_lite_nf("dx*_types"), _edge_nf("dx*_types")),
            "mistake: search dropped collection": (_lite_nf("dx*_types2"), _edge_nf("dx*_types2")),
            "mistake: insert wrong dim":
                ((6, "vector field 'v' expected dim 8, got 4"),
                 (CODE_UNEXPECTED, "the length(4) of float data should divide the dim(8)")),
            "mistake: insert varchar too long":
                ((6, "VARCHAR field 's' value length 65 exceeds max_length=64"),
                 (CODE_PARAM, "length of varchar field s exceeds max length, row number: 0, "
                              "length: 65, max length: 64: invalid parameter")),
            "mistake: search unknown anns field":
                ((6, "anns_field 'nope_vec' not found in schema"),
                 (CODE_PARAM, "failed to create query plan: failed to get field schema by name: "
                              "fieldName(nope_vec) not found: invalid parameter")),
            "mistake: insert unknown partition":
                ((200, "nope_p"), (200, "partition not found[partition=nope_p]")),
            "mistake: insert null into non-nullable":
                ((6, "FieldData 'i16' has 0 rows, expected 1"),
                 (CODE_PARAM, "field 'i16' is illegal, array type mismatch: invalid "
                              "parameter[expected=need int array][actual=got nil]")),
            "mistake: sparse search with dense data":
                ((6, "collection has no FLOAT_VECTOR field; specify anns_field explicitly for "
                     "sparse search"),
                 (CODE_UNEXPECTED, "vector type must be the same, field vv - type "
                                   "VECTOR_SPARSE_U32_F32, search info type VECTOR_FLOAT")),
            "mistake: hybrid_search wrong dim":
                ((1, re.compile(r"operands could not be broadcast together.*")),
                 (CODE_UNEXPECTED, "vector dimension mismatch, expected vector size(byte) 32, "
                                   "actual 16.")),
        }),
    Explained(
        "proxy-version", [STANDALONE],
        "The edge's refusals are worded as the current Milvus Proxy (2.5/2.6) words them. "
        "Milvus 2.3 words some of the same refusals differently (topk range, name rules, "
        "varchar length, auto-id columns, a dropped collection), gives a wrong vector size "
        "only as a query-node assertion, and an unknown anns field as 65535 where the current "
        "Proxy says 1100. Against a 2.3 backend clients see the current Milvus's answer.",
        {
            "mistake: search wrong dim":
                ((CODE_UNEXPECTED, QN_DIM),
                 (CODE_UNEXPECTED, "vector dimension mismatch, expected vector size(byte) 32, "
                                   "actual 16.")),
            "mistake: float16 search wrong dim":
                ((CODE_UNEXPECTED, QN_DIM),
                 (CODE_UNEXPECTED, "vector dimension mismatch, expected vector size(byte) 16, "
                                   "actual 8.")),
            "mistake: binary search with float data":
                ((CODE_UNEXPECTED, QN_DIM),
                 (CODE_UNEXPECTED, "vector type must be the same, field vv - type "
                                   "VECTOR_BINARY, search info type VECTOR_FLOAT")),
            "mistake: create bad name 1abc":
                ((CODE_PARAM, BAD_NAME_1[1].replace(".  the", ". the")), BAD_NAME_1),
            "mistake: create bad name with dash":
                ((CODE_PARAM, BAD_NAME_DASH[1].replace(".  coll", ". coll")), BAD_NAME_DASH),
            "mistake: search topk 20000":
                ((CODE_UNEXPECTED, "topk [20000] is invalid, top k should be in range "
                                   "[1, 16384], but got 20000"),
                 (CODE_UNEXPECTED, f"topk [20000] is invalid, {TOPK_RANGE}")),
            "mistake: search offset+topk 20000":
                ((CODE_UNEXPECTED, "offset+topk [20000] is invalid, top k should be in range "
                                   "[1, 16384], but got 20000"),
                 (CODE_UNEXPECTED, f"offset+topk [20000] is invalid, {TOPK_RANGE}")),
            "mistake: insert varchar too long":
                ((CODE_PARAM, "the length (65) of 0th string exceeds max length (64): invalid "
                              "parameter[expected=valid length string][actual=string length "
                              "exceeds max length]"),
                 (CODE_PARAM, "length of varchar field s exceeds max length, row number: 0, "
                              "length: 65, max length: 64: invalid parameter")),
            "mistake: search unknown anns field":
                ((CODE_UNEXPECTED, "failed to create query plan: failed to get field schema by "
                                   "name: fieldName(nope_vec) not found"),
                 (CODE_PARAM, "failed to create query plan: failed to get field schema by "
                              "name: fieldName(nope_vec) not found: invalid parameter")),
            "mistake: insert autoid with explicit id":
                ((CODE_PARAM, "the number of fields is less than needed: invalid "
                              "parameter[expected=2][actual=3]"),
                 (CODE_PARAM, "more fieldData has pass in: invalid "
                              "parameter[expected=3][actual=4]")),
            "mistake: search dropped collection":
                ((CODE_NOT_FOUND, "collection not found[collection=<id>]"),
                 _edge_nf("dx*_types2")),
        }),
]


# ------------------------------------------------------------------ backends


def _standalone(request):
    """The standalone_edge session fixture (another engineer's). For development
    before it lands: MILVUS_EDGE_DIFF_STANDALONE="<edge uri>,<direct uri>"."""
    dev = os.environ.get("MILVUS_EDGE_DIFF_STANDALONE")
    if dev:
        edge_uri, direct_uri = dev.split(",")
        return SimpleNamespace(uri=edge_uri, direct_uri=direct_uri, token="root:Milvus")
    return request.getfixturevalue("standalone_edge")


@pytest.fixture(params=[LITE, STANDALONE])
def target(request):
    if request.param == LITE:
        edge = request.getfixturevalue("edge")
        return SimpleNamespace(kind=LITE, uri=edge.uri, direct_uri=edge.backend_uri("b"),
                               token=TOKEN)
    se = _standalone(request)
    return SimpleNamespace(kind=STANDALONE, uri=se.uri, direct_uri=se.direct_uri, token=se.token)


@pytest.fixture
def quiet_pymilvus():
    """Most mistakes are refused on purpose; pymilvus logs each with a traceback."""
    with edgelib.quiet_logger("pymilvus"):
        yield


def test_differential(target, quiet_pymilvus, capsys):
    runner = workload.Runner(target.kind, target.direct_uri, target.uri, target.token, ALLOW)
    t0 = time.monotonic()
    try:
        workload.run(runner)
    finally:
        runner.close()
        took = time.monotonic() - t0
        with capsys.disabled():
            print(f"\n{runner.summary()} ({took:.0f}s)")
            explained = runner.report("explained")
            if explained and os.environ.get("MILVUS_EDGE_DIFF_VERBOSE"):
                print("explained differences:\n" + explained)
    if os.environ.get("MILVUS_EDGE_DIFF_REPORT"):  # every call and both answers, as JSON
        runner.dump(os.environ["MILVUS_EDGE_DIFF_REPORT"] + f".{target.kind}.json")
    problems = []
    unexplained = runner.report("unexplained")
    if unexplained:
        problems.append(f"{runner.summary()}\nunexplained differences (direct vs through the "
                        f"edge):\n{unexplained}")
    broken = runner.workload_errors()
    if broken:  # two identical failures prove nothing: the workload must work directly
        problems.append("calls that are no deliberate mistake failed directly against the "
                        "backend:\n" + "\n".join(f"- {r.label}: {workload.short(r.direct)}"
                                                   for r in broken))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
