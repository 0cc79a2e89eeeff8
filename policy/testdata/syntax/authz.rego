package milvus.authz

decision := {"allow": true} if {
	input.user == "root"
	input.api ==
}
