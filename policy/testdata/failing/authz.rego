package milvus.authz

decision := {"allow": input.user == "root"}
