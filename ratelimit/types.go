// Package ratelimit enforces quotas and rate limits with the Milvus Proxy's
// semantics (internal/proxy/rate_limit_interceptor.go, simple_rate_limiter.go):
// the same rate types and costs (DML in MB/s charged by request bytes, search
// in vectors/s charged by nq, query and DDL in requests/s), the same levels
// checked in the same order (edge → database → collection → partition, with
// tokens given back when a later level refuses), the same token bucket with
// its "punishment" (a call passes while tokens ≥ 0 and may take the bucket
// below zero), and the same answers: code 8 (RateLimit) and code 9
// (QuotaExceeded / ForceDeny). Beyond Milvus it limits per caller (user,
// role, API key, JWT group), reads Milvus's own collection and database
// properties, and can share limits between edge replicas through the
// envoyproxy/ratelimit service.
package ratelimit

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
)

// RateType is Milvus's internalpb.RateType, as far as the edge limits it.
type RateType uint8

const (
	DMLInsert RateType = iota
	DMLUpsert
	DMLDelete
	DQLSearch
	DQLQuery
	DDLCollection
	DDLPartition
	DDLIndex
	DDLFlush
	DDLCompaction
	DDLDB
	numRateTypes
)

var rateTypeNames = [numRateTypes]string{
	"DMLInsert", "DMLUpsert", "DMLDelete", "DQLSearch", "DQLQuery",
	"DDLCollection", "DDLPartition", "DDLIndex", "DDLFlush", "DDLCompaction", "DDLDB",
}

func (t RateType) String() string {
	if t < numRateTypes {
		return rateTypeNames[t]
	}
	return "RateType(" + strconv.Itoa(int(t)) + ")"
}

// class is what a force-deny switch covers.
type class uint8

const (
	writing class = iota
	reading
	ddl
)

func (t RateType) class() class {
	switch t {
	case DMLInsert, DMLUpsert, DMLDelete:
		return writing
	case DQLSearch, DQLQuery:
		return reading
	}
	return ddl
}

// Scope is a level of the hierarchy; beyond Milvus's four, Caller.
type Scope uint8

const (
	ScopeEdge Scope = iota
	ScopeDatabase
	ScopeCollection
	ScopePartition
	ScopeCaller
	numScopes
)

var scopeNames = [numScopes]string{"edge", "database", "collection", "partition", "caller"}

func (s Scope) String() string {
	if s < numScopes {
		return scopeNames[s]
	}
	return "Scope(" + strconv.Itoa(int(s)) + ")"
}

// Rates holds one limit per rate type, in Milvus's units: DML in MB/s, search
// in vectors/s, query and DDL in requests/s. A nil entry is no limit; 0 denies
// every call of the type (Milvus: a rate forced to 0 answers QuotaExceeded).
type Rates [numRateTypes]*float64

// Set returns r with t limited to v.
func (r Rates) Set(t RateType, v float64) Rates { r[t] = &v; return r }

// Any reports whether r limits anything.
func (r Rates) Any() bool {
	for _, v := range r {
		if v != nil {
			return true
		}
	}
	return false
}

// perSecond is the bucket rate of t for a limit v in Milvus's units: DML limits
// are MB/s and DML costs bytes.
func perSecond(t RateType, v float64) float64 {
	if t.class() == writing {
		return v * mb
	}
	return v
}

const mb = 1024 * 1024

// Milvus's collection properties (pkg/common/common.go) that set the
// collection level, and the database properties that deny.
var collectionProperties = map[string]RateType{
	"collection.insertRate.max.mb":  DMLInsert,
	"collection.upsertRate.max.mb":  DMLUpsert,
	"collection.deleteRate.max.mb":  DMLDelete,
	"collection.searchRate.max.vps": DQLSearch,
	"collection.queryRate.max.qps":  DQLQuery,
}

var denyProperties = map[string]class{
	"database.force.deny.writing": writing,
	"database.force.deny.reading": reading,
	"database.force.deny.ddl":     ddl,
}

// Milvus's codes (pkg/util/merr) and legacy error codes (merr oldCode).
const (
	CodeRateLimit     int32 = 8
	CodeQuotaExceeded int32 = 9
	// CodeHTTPRateLimit is what Milvus's REST v2 answers a limited call with
	// (merr.ErrHTTPRateLimit), wrapping the gRPC reason.
	CodeHTTPRateLimit int32 = 1807
)

// Refusal is a limited call's answer.
type Refusal struct {
	Scope Scope
	Type  RateType
	// Code is CodeRateLimit or CodeQuotaExceeded.
	Code int32
	// Reason is Milvus's message, word for word.
	Reason string
}

func rateRefusal(s Scope, t RateType, rate float64) *Refusal {
	// merr.WrapErrServiceRateLimit(rate, "request is rejected by grpc RateLimiter
	// middleware, please retry later"): the wrap message, then the merr error
	// with its field, rate in the bucket's unit (bytes/s for DML), %v.
	return &Refusal{Scope: s, Type: t, Code: CodeRateLimit,
		Reason: fmt.Sprintf("request is rejected by grpc RateLimiter middleware, please retry later: rate limit exceeded[rate=%v]", rate)}
}

func denyRefusal(s Scope, t RateType) *Refusal {
	// merr.WrapErrServiceQuotaExceeded(GetQuotaErrorStringWithReason(ForceDeny, "")).
	return &Refusal{Scope: s, Type: t, Code: CodeQuotaExceeded,
		Reason: "quota exceeded[reason=access has been disabled by the administrator]"}
}

// Status is the response status Milvus sends for r (merr.Status).
func (r *Refusal) Status() *commonpb.Status {
	st := &commonpb.Status{Code: r.Code, Reason: r.Reason, Detail: r.Reason}
	if r.Code == CodeRateLimit {
		st.ErrorCode, st.Retriable = commonpb.ErrorCode_RateLimit, true
	} else {
		st.ErrorCode = commonpb.ErrorCode_ForceDeny
	}
	return st
}

// RESTBody is Milvus's REST v2 answer for r (handler_v2.go wrapperProxy:
// ErrHTTPRateLimit's code, its message and the limiter's error).
func (r *Refusal) RESTBody() string {
	msg, _ := json.Marshal("request is rejected by limiter, error: " + r.Reason) // a string always marshals
	return fmt.Sprintf(`{"code":%d,"message":%s}`, CodeHTTPRateLimit, msg)
}

func zeroRefusal(s Scope, t RateType) *Refusal {
	// A rate set to 0 without a deny state (GetQuotaExceededError's fallback).
	return &Refusal{Scope: s, Type: t, Code: CodeQuotaExceeded,
		Reason: "quota exceeded[reason=rate type: " + t.String() + "]"}
}
