package metrics

import (
	"context"
	"errors"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/code"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
)

func checkResp(c code.Code, httpStatus int, refused string) *authv3.CheckResponse {
	r := &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(c)}}
	if c != code.Code_OK {
		r.HttpResponse = &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode(httpStatus)}}}
	}
	if refused != "" {
		r.DynamicMetadata = &structpb.Struct{Fields: map[string]*structpb.Value{edgemeta.Refused: structpb.NewStringValue(refused)}}
	}
	return r
}

func TestDecisionOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp *authv3.CheckResponse
		err  error
		want string
	}{
		{"allowed", checkResp(code.Code_OK, 0, ""), nil, DecisionAllow},
		{"allowed, refused later by validation", checkResp(code.Code_OK, 0, edgemeta.RefusedValidation), nil, DecisionAllow},
		{"gRPC call rate limited (sent to the responder)", checkResp(code.Code_OK, 0, edgemeta.RefusedRateLimit), nil, DecisionRateLimited},
		{"REST call rate limited", checkResp(code.Code_RESOURCE_EXHAUSTED, 429, ""), nil, DecisionRateLimited},
		{"too large", checkResp(code.Code_RESOURCE_EXHAUSTED, 413, ""), nil, DecisionInvalid},
		{"unauthenticated", checkResp(code.Code_UNAUTHENTICATED, 401, ""), nil, DecisionDenyAuth},
		{"policy", checkResp(code.Code_PERMISSION_DENIED, 403, edgemeta.RefusedPolicy), nil, DecisionDenyPolicy},
		{"policy with its own status", checkResp(code.Code_UNAVAILABLE, 503, ""), nil, DecisionDenyPolicy},
		{"malformed", checkResp(code.Code_INVALID_ARGUMENT, 400, ""), nil, DecisionInvalid},
		{"error", nil, errors.New("policy evaluation failed"), DecisionError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decisionOf(tc.resp, tc.err); got != tc.want {
				t.Errorf("decisionOf = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUnaryInterceptor(t *testing.T) {
	f := NewFilters()
	icpt := f.UnaryInterceptor()
	deny := func(context.Context, any) (any, error) { return checkResp(code.Code_PERMISSION_DENIED, 403, ""), nil }
	for range 3 {
		if _, err := icpt(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: checkMethod}, deny); err != nil {
			t.Fatal(err)
		}
	}
	// Another method is not a decision.
	_, _ = icpt(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x.Y/Z"}, deny)
	want(t, "deny_policy", testutil.ToFloat64(f.decisions.WithLabelValues(DecisionDenyPolicy)), 3)
	want(t, "check durations", float64(histCount(t, f, "milvus_edge_authz_check_duration_seconds")), 3)
	lint(t, f)
}

// fakeStream hands out ext_proc messages and accepts the answers.
type fakeStream struct {
	grpc.ServerStream
	in []*extprocv3.ProcessingRequest
}

func (s *fakeStream) RecvMsg(m any) error {
	if len(s.in) == 0 {
		return errors.New("EOF")
	}
	proto.Merge(m.(*extprocv3.ProcessingRequest), s.in[0])
	s.in = s.in[1:]
	return nil
}

func (s *fakeStream) SendMsg(any) error { return nil }

func TestStreamInterceptor(t *testing.T) {
	f := NewFilters()
	ss := &fakeStream{in: []*extprocv3.ProcessingRequest{
		{Request: &extprocv3.ProcessingRequest_RequestHeaders{}},
		{Request: &extprocv3.ProcessingRequest_RequestBody{}},
		{Request: &extprocv3.ProcessingRequest_ResponseHeaders{}},
	}}
	// The handler answers every message, as ext_proc does.
	handler := func(_ any, s grpc.ServerStream) error {
		for {
			var req extprocv3.ProcessingRequest
			if err := s.RecvMsg(&req); err != nil {
				return nil
			}
			if err := s.SendMsg(&extprocv3.ProcessingResponse{}); err != nil {
				return err
			}
		}
	}
	if err := f.StreamInterceptor()(nil, ss, &grpc.StreamServerInfo{FullMethod: processMethod}, handler); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range gather(t, f, "milvus_edge_extproc_message_duration_seconds") {
		got[s.labels["phase"]] = s.value
	}
	if got["request_headers"] != 1 || got["request_body"] != 1 || got["response_headers"] != 1 || got["response_body"] != 0 {
		t.Errorf("samples by phase %v", got)
	}
}
