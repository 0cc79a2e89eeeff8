package milvus.authz_test

import data.milvus.authz

test_root_allowed if authz.decision.allow with input as {"user": "root"}

test_reader_allowed if authz.decision.allow with input as {"user": "reader"}
