package ratelimit

import "sync/atomic"

// stats counts admitted and refused calls per level and rate type (n): a
// call admitted counts once at every level that limited it; a refused one
// once, at the level that refused it. calls counts each checked call once,
// by rate type.
type stats struct {
	n     [numScopes][numRateTypes][2]atomic.Uint64
	calls [numRateTypes][2]atomic.Uint64
}

func (s *stats) count(sc Scope, t RateType, admitted bool) {
	s.n[sc][t][index(admitted)].Add(1)
}

// call counts one checked call's outcome.
func (s *stats) call(t RateType, admitted bool) { s.calls[t][index(admitted)].Add(1) }

func index(admitted bool) int {
	if admitted {
		return 1
	}
	return 0
}

// Count is one row of Stats.
type Count struct {
	Scope    string `json:"scope"`
	RateType string `json:"rate_type"`
	Admitted uint64 `json:"admitted"`
	Refused  uint64 `json:"refused"`
}

// Stats returns the non-zero counts, by level then rate type (for the admin
// status and the metrics work).
func (l *Limiter) Stats() []Count {
	var out []Count
	for sc := range numScopes {
		for t := range numRateTypes {
			ref, adm := l.stats.n[sc][t][0].Load(), l.stats.n[sc][t][1].Load()
			if ref+adm > 0 {
				out = append(out, Count{Scope: sc.String(), RateType: t.String(), Admitted: adm, Refused: ref})
			}
		}
	}
	return out
}

// CallCount is one row of CallStats.
type CallCount struct {
	RateType string `json:"rate_type"`
	Admitted uint64 `json:"admitted"`
	Refused  uint64 `json:"refused"`
}

// CallStats returns the non-zero per-call counts by rate type: every call
// some level limited, once, admitted or refused (Milvus's
// milvus_proxy_rate_limit_req_count).
func (l *Limiter) CallStats() []CallCount {
	var out []CallCount
	for t := range numRateTypes {
		ref, adm := l.stats.calls[t][0].Load(), l.stats.calls[t][1].Load()
		if ref+adm > 0 {
			out = append(out, CallCount{RateType: t.String(), Admitted: adm, Refused: ref})
		}
	}
	return out
}
