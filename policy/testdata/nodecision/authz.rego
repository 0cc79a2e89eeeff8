package milvus.authz_typo

decision := true
