package ratelimit

import "sync/atomic"

// stats counts admitted and refused calls per level and rate type. A call
// admitted counts once at every level that limited it; a refused one once, at
// the level that refused it.
type stats struct {
	n [numScopes][numRateTypes][2]atomic.Uint64
}

func (s *stats) count(sc Scope, t RateType, admitted bool) {
	i := 0
	if admitted {
		i = 1
	}
	s.n[sc][t][i].Add(1)
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
