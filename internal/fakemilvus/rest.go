package fakemilvus

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
)

// StartWithREST serves a new Fake on 127.0.0.1:0 as a Milvus proxy serves
// both APIs on one port: gRPC over HTTP/2 cleartext (content-type
// application/grpc) reaches the MilvusService above; every other request is a
// REST call, answered {"code":0,"data":{}} with its headers recorded (see
// RESTHeaders). The REST side checks nothing: it is for tests that need to
// see what reached the backend.
func StartWithREST(t testing.TB) (addr string, f *Fake) {
	t.Helper()
	f = New()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fakemilvus: %v", err)
	}
	gs := grpc.NewServer()
	milvuspb.RegisterMilvusServiceServer(gs, f)
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &protos, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("content-type"), "application/grpc") {
			gs.ServeHTTP(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		f.mu.Lock()
		f.rest[r.URL.Path] = r.Header.Clone()
		f.mu.Unlock()
		w.Header().Set("content-type", "application/json")
		_, _ = io.WriteString(w, `{"code":0,"data":{}}`)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("fakemilvus: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		gs.Stop()
		<-done
	})
	return l.Addr().String(), f
}

// RESTHeaders returns the headers of the last REST request to path (nil if none).
func (f *Fake) RESTHeaders(path string) http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rest[path].Clone()
}
