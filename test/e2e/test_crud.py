"""CRUD through the edge with the real pymilvus, checked against the backend directly."""

import random

from pymilvus import DataType, MilvusClient

from edgelib import TOKEN

COLLECTION = "docs_crud"  # no tenant_a_ prefix: the default route, cluster b
DIM = 8
ROWS = 1000
SEARCH = {"metric_type": "COSINE", "params": {"ef": 64}}


def _rows(seed=20240611):
    rng = random.Random(seed)
    return [
        {"id": i, "vec": [rng.uniform(-1, 1) for _ in range(DIM)], "tag": rng.randrange(10)}
        for i in range(ROWS)
    ]


def _ids(hits):
    return [h["id"] for h in hits]


def test_crud_through_edge(edge):
    rows = _rows()
    via_edge = MilvusClient(uri=edge.uri, token=TOKEN)
    on_b = MilvusClient(uri=edge.backend_uri("b"), token=TOKEN)
    on_a = MilvusClient(uri=edge.backend_uri("a"), token=TOKEN)
    try:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
        schema.add_field("tag", DataType.INT64)
        via_edge.create_collection(COLLECTION, schema=schema, consistency_level="Strong")

        # The collection landed on the default cluster's backend only.
        assert on_b.has_collection(COLLECTION) is True
        assert on_a.has_collection(COLLECTION) is False

        res = via_edge.insert(COLLECTION, rows)
        assert res["insert_count"] == ROWS
        assert sorted(res["ids"]) == list(range(ROWS))

        index = MilvusClient.prepare_index_params()
        index.add_index(field_name="vec", index_type="HNSW", metric_type="COSINE",
                        params={"M": 16, "efConstruction": 64})
        via_edge.create_index(COLLECTION, index)
        via_edge.load_collection(COLLECTION)

        probe = rows[123]
        got = via_edge.search(COLLECTION, data=[probe["vec"]], limit=10,
                              search_params=SEARCH, output_fields=["id"])
        direct = on_b.search(COLLECTION, data=[probe["vec"]], limit=10,
                             search_params=SEARCH, output_fields=["id"])
        assert len(got) == 1 and len(got[0]) == 10, got
        assert _ids(got[0])[0] == probe["id"], got  # a vector is its own nearest neighbour
        assert _ids(got[0]) == _ids(direct[0])

        want3 = sorted(r["id"] for r in rows if r["tag"] == 3)
        assert want3, "seed yields rows with tag 3"
        q = via_edge.query(COLLECTION, filter="tag == 3", output_fields=["id", "tag"])
        assert sorted(r["id"] for r in q) == want3
        assert {r["tag"] for r in q} == {3}

        via_edge.delete(COLLECTION, filter="id < 10")
        assert via_edge.query(COLLECTION, filter="id < 10", output_fields=["id"]) == []
        assert on_b.query(COLLECTION, filter="id < 10", output_fields=["id"]) == []
        left = via_edge.query(COLLECTION, filter="id < 20", output_fields=["id"])
        assert sorted(r["id"] for r in left) == list(range(10, 20))

        via_edge.drop_collection(COLLECTION)
        assert on_b.has_collection(COLLECTION) is False
    finally:
        for c in (on_b, on_a, via_edge):
            c.close()


def test_quick_setup_collection_with_dynamic_keys(edge):
    """The README's flow: a quick-setup collection (dynamic field on) whose rows
    carry keys beyond the schema, which pymilvus sends as the $meta column."""
    name = "docs_quick"
    rng = random.Random(7)
    via_edge = MilvusClient(uri=edge.uri, token=TOKEN)
    try:
        via_edge.create_collection(name, dimension=DIM)
        rows = [{"id": i, "vector": [rng.random() for _ in range(DIM)], "color": ["red", "blue"][i % 2]}
                for i in range(100)]
        assert via_edge.insert(name, rows)["insert_count"] == 100
        hits = via_edge.search(name, data=[rows[5]["vector"]], limit=3, output_fields=["color"])
        assert hits[0][0]["id"] == 5 and hits[0][0]["entity"]["color"] == "blue"
        got = via_edge.query(name, filter='color == "red"', output_fields=["id", "color"], limit=100)
        assert sorted(r["id"] for r in got) == list(range(0, 100, 2))
    finally:
        via_edge.drop_collection(name)
