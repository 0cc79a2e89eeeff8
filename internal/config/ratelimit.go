package config

import (
	"fmt"
	"regexp"
)

// RateLimit holds quotas and rate limits with Milvus's semantics: the same
// units, levels and answers as the Milvus Proxy's quotaAndLimits
// (docs/rate-limits.md). Off unless Enabled, as Milvus's own
// quotaAndLimits.enabled defaults to false in code.
type RateLimit struct {
	// Enabled turns limits on. Default false.
	Enabled bool `yaml:"enabled"`
	// Properties reads Milvus's own collection properties
	// (collection.insertRate.max.mb, …upsertRate…, …deleteRate…,
	// collection.searchRate.max.vps, collection.queryRate.max.qps) and
	// database properties (database.force.deny.writing|reading|ddl) with
	// the schema, so alter_collection_properties through the edge takes
	// effect at once. Default true.
	Properties *bool `yaml:"properties"`
	// Edge limits every call through this edge (Milvus's cluster level).
	Edge LimitLevel `yaml:"edge"`
	// Databases, Collections and Partitions limit one object each; the name
	// "*" gives every object its own limit of that size; an exact name wins.
	Databases   []NamedLimit `yaml:"databases"`
	Collections []NamedLimit `yaml:"collections"`
	Partitions  []NamedLimit `yaml:"partitions"`
	// Callers limit by identity, beyond Milvus.
	Callers []CallerLimit `yaml:"callers"`
	// Shared, when set, holds the limits across edge replicas through the
	// envoyproxy/ratelimit service (and its Redis).
	Shared *SharedLimits `yaml:"shared"`
}

// PropertiesOn reports whether Milvus's properties are read.
func (r RateLimit) PropertiesOn() bool { return r.Properties == nil || *r.Properties }

// Limits are rates in Milvus's units; unset is unlimited, 0 refuses every
// call of the kind (code 9, as Milvus does for a rate forced to 0).
type Limits struct {
	// InsertMB, UpsertMB and DeleteMB are MB/s of request bytes (upserts
	// count against InsertMB where UpsertMB is unset, as Milvus charges them).
	InsertMB *float64 `yaml:"insert_mb"`
	UpsertMB *float64 `yaml:"upsert_mb"`
	DeleteMB *float64 `yaml:"delete_mb"`
	// SearchVPS is query vectors per second (a search costs its nq; a hybrid
	// search the sum of its sub-searches').
	SearchVPS *float64 `yaml:"search_vps"`
	// QueryQPS is queries per second.
	QueryQPS *float64 `yaml:"query_qps"`
	// DDL families, requests per second: Create/Drop/Load/ReleaseCollection;
	// Create/Drop/Load/ReleasePartition(s); Create/DropIndex; Flush;
	// ManualCompaction; Create/Drop/AlterDatabase.
	DDLCollectionQPS *float64 `yaml:"ddl_collection_qps"`
	DDLPartitionQPS  *float64 `yaml:"ddl_partition_qps"`
	DDLIndexQPS      *float64 `yaml:"ddl_index_qps"`
	FlushQPS         *float64 `yaml:"flush_qps"`
	CompactionQPS    *float64 `yaml:"compaction_qps"`
	DDLDatabaseQPS   *float64 `yaml:"ddl_database_qps"`
}

// Each calls f on every set limit with its YAML name.
func (l *Limits) Each(f func(name string, v float64)) {
	for _, e := range []struct {
		n string
		v *float64
	}{
		{"insert_mb", l.InsertMB}, {"upsert_mb", l.UpsertMB}, {"delete_mb", l.DeleteMB},
		{"search_vps", l.SearchVPS}, {"query_qps", l.QueryQPS},
		{"ddl_collection_qps", l.DDLCollectionQPS}, {"ddl_partition_qps", l.DDLPartitionQPS},
		{"ddl_index_qps", l.DDLIndexQPS}, {"flush_qps", l.FlushQPS},
		{"compaction_qps", l.CompactionQPS}, {"ddl_database_qps", l.DDLDatabaseQPS},
	} {
		if e.v != nil {
			f(e.n, *e.v)
		}
	}
}

// LimitLevel is the limits of one level, and its force-deny switches.
type LimitLevel struct {
	Limits    `yaml:",inline"`
	ForceDeny ForceDeny `yaml:"force_deny"`
}

// ForceDeny refuses every call of a class with code 9 (Milvus's
// limitWriting.forceDeny / database.force.deny.*).
type ForceDeny struct {
	Writing bool `yaml:"writing"` // insert, upsert, delete
	Reading bool `yaml:"reading"` // search, query
	DDL     bool `yaml:"ddl"`
}

// NamedLimit is the limit of one database, collection or partition.
type NamedLimit struct {
	// Database names the database of a collection or partition limit.
	Database string `yaml:"database"`
	// Collection names the collection of a partition limit.
	Collection string `yaml:"collection"`
	// Name is the object's name, or "*" for each one.
	Name       string `yaml:"name"`
	LimitLevel `yaml:",inline"`
}

// CallerLimit limits the calls of one identity; exactly one of User, Role,
// APIKeySHA256 and JWTGroup. User "*" gives every user a limit of their own;
// any other rule is one limit shared by every call it matches.
type CallerLimit struct {
	User string `yaml:"user"`
	Role string `yaml:"role"`
	// APIKeySHA256 is the key's SHA-256 in hex, as in the policy's api_keys.
	APIKeySHA256 string `yaml:"api_key_sha256"`
	// JWTGroup matches a value of the token's "groups" claim.
	JWTGroup string `yaml:"jwt_group"`
	Limits   `yaml:",inline"`
}

// SharedLimits is the envoyproxy/ratelimit service the replicas share.
type SharedLimits struct {
	// Address is the service's gRPC host:port.
	Address string `yaml:"address"`
	// Domain is the service's domain for the edge. Default milvus-edge.
	Domain string `yaml:"domain"`
	// Timeout bounds one call to the service; past it, or when it fails, a
	// replica decides alone for a second, holding 1/replicas of each limit.
	// Default 50ms.
	Timeout Duration `yaml:"timeout"`
	// Replicas is how many edges share the limits. Default 1.
	Replicas int `yaml:"replicas"`
}

func (r *RateLimit) setDefaults() {
	if s := r.Shared; s != nil {
		setStr(&s.Domain, "milvus-edge")
		setDur(&s.Timeout, Duration(50e6))
		if s.Replicas == 0 {
			s.Replicas = 1
		}
	}
}

var (
	limitNameRE = regexp.MustCompile(`^(\*|[a-zA-Z_][a-zA-Z0-9_-]{0,254})$`)
	sha256RE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func validateRateLimit(bad badFunc, r RateLimit) {
	limits := func(p string, l Limits) {
		l.Each(func(n string, v float64) {
			if v < 0 || v != v {
				bad(p+"."+n, "must be a rate ≥ 0 (0 refuses every call), got %v", v)
			}
		})
	}
	limits("rate_limit.edge", r.Edge.Limits)
	named := func(list string, ls []NamedLimit, needDB, needColl bool) {
		seen := map[string]bool{}
		for i, l := range ls {
			p := fmt.Sprintf("rate_limit.%s[%d]", list, i)
			name := func(f, v string, need bool) {
				switch {
				case need && v == "":
					bad(p+"."+f, "is required")
				case !need && v != "":
					bad(p+"."+f, "is not used by %s limits", list)
				case v != "" && !limitNameRE.MatchString(v):
					bad(p+"."+f, "must be a Milvus name or \"*\", got %q", v)
				}
			}
			name("database", l.Database, needDB)
			name("collection", l.Collection, needColl)
			name("name", l.Name, true)
			key := l.Database + "/" + l.Collection + "/" + l.Name
			if seen[key] {
				bad(p, "limits the same %s as an earlier entry", list)
			}
			seen[key] = true
			limits(p, l.Limits)
		}
	}
	named("databases", r.Databases, false, false)
	named("collections", r.Collections, true, false)
	named("partitions", r.Partitions, true, true)
	for i, c := range r.Callers {
		p := fmt.Sprintf("rate_limit.callers[%d]", i)
		n := 0
		for _, v := range []string{c.User, c.Role, c.APIKeySHA256, c.JWTGroup} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			bad(p, "needs exactly one of user, role, api_key_sha256 and jwt_group")
		}
		if c.APIKeySHA256 != "" && !sha256RE.MatchString(c.APIKeySHA256) {
			bad(p+".api_key_sha256", "must be 64 lowercase hex digits (the key's SHA-256)")
		}
		limits(p, c.Limits)
	}
	if s := r.Shared; s != nil {
		hostPort(bad, "rate_limit.shared.address", s.Address)
		if s.Timeout.D() <= 0 {
			bad("rate_limit.shared.timeout", "must be positive")
		}
		if s.Replicas < 1 {
			bad("rate_limit.shared.replicas", "must be at least 1, got %d", s.Replicas)
		}
	}
}
