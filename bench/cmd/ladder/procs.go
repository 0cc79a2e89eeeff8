package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/milvus-edge/milvus-edge/internal/freeport"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Child is a process the bench started; its output goes to a log file.
type Child struct {
	Name, Log string
	cmd       *exec.Cmd
	exited    chan struct{}
	err       error
}

func startChild(dir, name, bin string, args ...string) (*Child, error) {
	return startChildEnv(dir, name, nil, bin, args...)
}

// startChildEnv starts a child with extra environment variables (KEY=VALUE).
func startChildEnv(dir, name string, env []string, bin string, args ...string) (*Child, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	// The child dies with the bench if the bench is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c := &Child{Name: name, Log: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		f.Close()
		close(c.exited)
	}()
	return c, nil
}

func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Alive fails with the tail of the log when the child has exited.
func (c *Child) Alive() error {
	select {
	case <-c.exited:
		return fmt.Errorf("%s exited (%v); last output:\n%s", c.Name, c.err, c.Tail(20))
	default:
		return nil
	}
}

func (c *Child) Tail(n int) string {
	b, _ := os.ReadFile(c.Log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Stop sends SIGTERM, then SIGKILL after 10 s.
func (c *Child) Stop() {
	if c == nil {
		return
	}
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
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
func waitFor(what string, limit time.Duration, cond func() error, children ...*Child) error {
	deadline := time.Now().Add(limit)
	var last error
	for {
		if last = cond(); last == nil {
			return nil
		}
		for _, c := range children {
			if err := c.Alive(); err != nil {
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
