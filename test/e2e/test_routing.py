"""Collection-based routing: tenant_a_* → cluster a, everything else → cluster b."""

from pymilvus import MilvusClient

from edgelib import TOKEN

TENANT = "tenant_a_docs"
OTHER = "other_docs"


def test_tenant_routing(edge):
    via_edge = MilvusClient(uri=edge.uri, token=TOKEN)
    on_a = MilvusClient(uri=edge.backend_uri("a"), token=TOKEN)
    on_b = MilvusClient(uri=edge.backend_uri("b"), token=TOKEN)
    created = []
    try:
        via_edge.create_collection(TENANT, dimension=8)
        created.append(TENANT)
        via_edge.create_collection(OTHER, dimension=8)
        created.append(OTHER)

        assert on_a.has_collection(TENANT) is True
        assert on_b.has_collection(TENANT) is False
        assert on_b.has_collection(OTHER) is True
        assert on_a.has_collection(OTHER) is False

        # Reads through the edge follow the same routes.
        assert via_edge.has_collection(TENANT) is True
        assert via_edge.has_collection(OTHER) is True

        for name in (TENANT, OTHER):
            via_edge.drop_collection(name)
            created.remove(name)
        assert on_a.has_collection(TENANT) is False
        assert on_b.has_collection(OTHER) is False
    finally:
        # Best-effort cleanup directly on the backends if the edge path failed.
        for name in created:
            for c in (on_a, on_b):
                try:
                    if c.has_collection(name):
                        c.drop_collection(name)
                except Exception:  # noqa: BLE001
                    pass
        for c in (via_edge, on_a, on_b):
            c.close()
