package ratelimit

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
)

func TestRefusalStatus(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ref       *Refusal
		code      int32
		errorCode commonpb.ErrorCode
		retriable bool
		reason    string
	}{
		{"over rate", rateRefusal(ScopeEdge, DQLSearch, 2.5), 8, commonpb.ErrorCode_RateLimit, true,
			"request is rejected by grpc RateLimiter middleware, please retry later: rate limit exceeded[rate=2.5]"},
		{"over rate, bytes", rateRefusal(ScopeCollection, DMLInsert, 3*mb), 8, commonpb.ErrorCode_RateLimit, true,
			"request is rejected by grpc RateLimiter middleware, please retry later: rate limit exceeded[rate=3.145728e+06]"},
		{"force deny", denyRefusal(ScopeDatabase, DMLDelete), 9, commonpb.ErrorCode_ForceDeny, false,
			"quota exceeded[reason=access has been disabled by the administrator]"},
		{"rate 0", zeroRefusal(ScopePartition, DDLCompaction), 9, commonpb.ErrorCode_ForceDeny, false,
			"quota exceeded[reason=rate type: DDLCompaction]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.ref.Status()
			if st.GetCode() != tc.code || st.GetErrorCode() != tc.errorCode || st.GetRetriable() != tc.retriable ||
				st.GetReason() != tc.reason || st.GetDetail() != tc.reason {
				t.Fatalf("Status() = %v\nwant code %d, error_code %v, retriable %v, reason = detail = %q",
					st, tc.code, tc.errorCode, tc.retriable, tc.reason)
			}
			var body struct {
				Code    *int32  `json:"code"`
				Message *string `json:"message"`
			}
			dec := json.NewDecoder(strings.NewReader(tc.ref.RESTBody()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&body); err != nil || body.Code == nil || body.Message == nil {
				t.Fatalf("RESTBody() %q: %v", tc.ref.RESTBody(), err)
			}
			if *body.Code != 1807 || *body.Message != "request is rejected by limiter, error: "+tc.reason {
				t.Fatalf("RESTBody() = %s", tc.ref.RESTBody())
			}
		})
	}
	t.Run("REST body escapes the reason", func(t *testing.T) {
		ref := &Refusal{Code: CodeRateLimit, Reason: `say "no" \ <b>`}
		var body map[string]any
		if err := json.Unmarshal([]byte(ref.RESTBody()), &body); err != nil {
			t.Fatalf("RESTBody() %q is not JSON: %v", ref.RESTBody(), err)
		}
		if body["message"] != `request is rejected by limiter, error: say "no" \ <b>` {
			t.Fatalf("message %q", body["message"])
		}
	})
}

func TestStrings(t *testing.T) {
	want := []string{"DMLInsert", "DMLUpsert", "DMLDelete", "DQLSearch", "DQLQuery",
		"DDLCollection", "DDLPartition", "DDLIndex", "DDLFlush", "DDLCompaction", "DDLDB"}
	if len(want) != int(numRateTypes) {
		t.Fatalf("%d rate types, the test knows %d", numRateTypes, len(want))
	}
	for i, w := range want {
		if got := RateType(i).String(); got != w {
			t.Errorf("RateType(%d) = %q, want %q", i, got, w)
		}
	}
	if got := numRateTypes.String(); got != "RateType(11)" {
		t.Errorf("out of range: %q", got)
	}
	for i, w := range []string{"edge", "database", "collection", "partition", "caller", "Scope(5)"} {
		if got := Scope(i).String(); got != w {
			t.Errorf("Scope(%d) = %q, want %q", i, got, w)
		}
	}
}

func TestRatesPerSecond(t *testing.T) {
	for _, tc := range []struct {
		t    RateType
		v    float64
		want float64
	}{
		{DMLInsert, 1, 1 << 20}, {DMLUpsert, 0.5, 1 << 19}, {DMLDelete, 2, 2 << 20},
		{DQLSearch, 3, 3}, {DQLQuery, 4, 4}, {DDLFlush, 0.1, 0.1},
	} {
		if got := perSecond(tc.t, tc.v); got != tc.want {
			t.Errorf("perSecond(%s, %v) = %v, want %v", tc.t, tc.v, got, tc.want)
		}
	}
	var r Rates
	if r.Any() {
		t.Error("zero Rates limit something")
	}
	r2 := r.Set(DDLDB, 0)
	if r.Any() || !r2.Any() || *r2[DDLDB] != 0 {
		t.Error("Set must return a copy with the limit set, 0 included")
	}
}
