package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/milvus-edge/milvus-edge/internal/freeport"
	"github.com/milvus-edge/milvus-edge/internal/procs"
)

// childGrace bounds a child's stop (SIGINT to its group, then SIGKILL).
const childGrace = 10 * time.Second

// quiet drops the children's log lines: their output goes to files.
var quiet = slog.New(slog.DiscardHandler)

func startChild(dir, name, bin string, args ...string) (*procs.Proc, error) {
	return startChildEnv(dir, name, nil, bin, args...)
}

// startChildEnv starts a child (internal/procs: its own process group, dies
// with the bench) with extra environment variables (KEY=VALUE); its output
// goes to <dir>/<name>.log.
func startChildEnv(dir, name string, env []string, bin string, args ...string) (*procs.Proc, error) {
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	p, err := procs.Start(quiet, name, bin, args, append(os.Environ(), env...), procs.Output(f))
	if err != nil {
		f.Close()
		return nil, err
	}
	go func() {
		<-p.Done()
		f.Close()
	}()
	return p, nil
}

// stop stops a child, if there is one.
func stop(p *procs.Proc) {
	if p != nil {
		_ = p.Stop(childGrace)
	}
}

func freeAddr() string {
	addr, err := freeport.Loopback()
	if err != nil {
		panic(err)
	}
	return addr
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// clkTck is USER_HZ, 100 on every Linux this runs on.
const clkTck = 100

// cpuTime is a process's user+system CPU from /proc/<pid>/stat (pid 0 =
// this process), at 10 ms resolution.
func cpuTime(pid int) time.Duration {
	path := "/proc/self/stat"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// Fields after "(comm) ": state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clkTck
}

// machineCPU returns busy and total jiffies from /proc/stat.
func machineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, s := range f[1:] {
		v, _ := strconv.ParseInt(s, 10, 64)
		if i >= 8 { // guest, guest_nice are already in user
			break
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

func httpOK(url string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitFor polls cond every 100 ms until it holds, a child dies or limit passes.
func waitFor(what string, limit time.Duration, cond func() error, children ...*procs.Proc) error {
	deadline := time.Now().Add(limit)
	var last error
	for {
		if last = cond(); last == nil {
			return nil
		}
		for _, c := range children {
			if err := c.Exited(); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s: %v", what, limit, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// probe makes one authenticated GetVersion through addr.
func probe(addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(authCtx(context.Background()), 2*time.Second)
	defer cancel()
	resp, err := milvuspb.NewMilvusServiceClient(conn).GetVersion(ctx, &milvuspb.GetVersionRequest{})
	if err != nil {
		return err
	}
	if resp.GetStatus().GetCode() != 0 {
		return errors.New(resp.GetStatus().GetReason())
	}
	return nil
}
