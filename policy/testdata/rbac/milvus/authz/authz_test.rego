package milvus.authz_test

import data.milvus.authz

search := {"identity": {"user": "reader", "roles": ["reader", "public"]}, "milvus": {"privilege": "Search", "object_type": "Collection", "object_name": "docs", "db": "default"}}

test_reader_searches_docs if authz.decision.allow with input as search

test_reader_cannot_insert if {
	d := authz.decision with input as object.union(search, {"milvus": {"privilege": "Insert"}})
	not d.allow
	d.reason == "PrivilegeInsert: permission deny to reader in the `default` database"
}

test_root_bypasses if authz.decision.allow with input as {"identity": {"user": "root", "roles": ["public"]}, "milvus": {"privilege": "DropDatabase"}}
