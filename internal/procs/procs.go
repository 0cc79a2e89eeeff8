// Package procs starts and supervises child processes (Envoy, milvus-lite, a
// Milvus standalone, the bench's servers): each runs in its own process group,
// dies with its starter (Pdeathsig), has its output relayed to the log (and
// optionally copied to a file), keeps its last lines for error reports, and is
// stopped with its whole group, so that nothing it spawned is left running.
package procs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const tailLines = 30

// Proc is a started child process.
type Proc struct {
	Name  string
	cmd   *exec.Cmd
	done  chan struct{}
	err   error      // set before done is closed
	out   io.Writer  // copy of the output, or nil
	level slog.Level // of the relayed lines

	// mu guards tail.
	mu   sync.Mutex
	tail []string
}

// Option changes how Start runs a process.
type Option func(*Proc)

// Output copies every output line, as printed, to w (a log file); w must be
// safe to write from the relay goroutine until the process is done.
func Output(w io.Writer) Option { return func(p *Proc) { p.out = w } }

// LogLevel is the level the output lines are logged at. Default info.
func LogLevel(l slog.Level) Option { return func(p *Proc) { p.level = l } }

// Start runs path with args; its output lines go to log with child=name.
// env is the whole environment (nil: none; pass os.Environ() to inherit).
func Start(log *slog.Logger, name, path string, args []string, env []string, opts ...Option) (*Proc, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{})}
	for _, o := range opts {
		o(p)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		p.relay(log, pr)
	}()
	go func() {
		p.err = cmd.Wait()
		pw.Close()
		<-relayed // every line is logged and copied before Done
		close(p.done)
	}()
	return p, nil
}

func (p *Proc) relay(log *slog.Logger, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p.out != nil {
			_, _ = io.WriteString(p.out, line+"\n")
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		p.mu.Lock()
		p.tail = append(p.tail, line)
		if len(p.tail) > tailLines {
			p.tail = p.tail[len(p.tail)-tailLines:]
		}
		p.mu.Unlock()
		log.LogAttrs(context.Background(), p.level, line, slog.String("child", p.Name))
	}
	_, _ = io.Copy(io.Discard, r)
}

// Done is closed when the process has exited and its output (also that of
// what it spawned, while they hold it) has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Pid is the process id (also the id of its process group).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Err is the exit error once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Exited returns nil while the process runs, else an error naming it with its
// exit status and last output.
func (p *Proc) Exited() error {
	select {
	case <-p.done:
		return p.exitError("exited")
	default:
		return nil
	}
}

func (p *Proc) exitError(what string) error {
	err := p.err
	if err == nil {
		err = errors.New("exit status 0")
	}
	return fmt.Errorf("%s %s: %w\n--- last output of %s ---\n%s", p.Name, what, err, p.Name, p.Tail())
}

// Tail returns the last lines the process printed.
func (p *Proc) Tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// Stop sends SIGINT to the process group and waits up to grace for the
// process and everything it spawned to exit; then it kills the group.
func (p *Proc) Stop(grace time.Duration) error {
	deadline := time.Now().Add(grace)
	pgid := p.cmd.Process.Pid
	var err error
	select {
	case <-p.done:
	default:
		_ = syscall.Kill(-pgid, syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
			err = fmt.Errorf("%s did not stop within %s; killed", p.Name, grace)
		}
	}
	// The leader is gone; what it spawned (milvus-server's milvus) gets the
	// rest of the grace, then SIGKILL.
	for groupAlive(pgid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	killGroup(pgid)
	return err
}

// groupAlive reports whether a live (not zombie) process of the group is left.
func groupAlive(pgid int) bool {
	if syscall.Kill(-pgid, 0) != nil {
		return false
	}
	// kill(2) counts zombies too, which init reaps in a moment.
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	want := strconv.Itoa(pgid)
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// After "(comm) ": state, ppid, pgrp.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 2 && f[2] == want && f[0] != "Z" {
			return true
		}
	}
	return false
}

// killGroup kills what is left of the group and waits (up to 5 s) until it is gone.
func killGroup(pgid int) {
	if !groupAlive(pgid) {
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	for end := time.Now().Add(5 * time.Second); groupAlive(pgid) && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitReady polls ready every poll until it passes, the process exits (an
// error with its last output), ctx ends or limit passes.
func (p *Proc) WaitReady(ctx context.Context, limit, poll time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(limit)
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited while starting: %v\n--- last output of %s ---\n%s", p.Name, p.err, p.Name, p.Tail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last error: %v)\n--- last output of %s ---\n%s", p.Name, ctx.Err(), err, p.Name, p.Tail())
		case <-time.After(poll):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (last error: %v)\n--- last output of %s ---\n%s", p.Name, limit, err, p.Name, p.Tail())
		}
	}
}

// Supervise waits until ctx ends (then stops the process and returns nil) or
// the process exits on its own (an error naming it, with its last output;
// what it spawned is killed).
func (p *Proc) Supervise(ctx context.Context, grace time.Duration) error {
	select {
	case <-ctx.Done():
		return p.Stop(grace)
	case <-p.done:
		killGroup(p.cmd.Process.Pid)
		return p.exitError("exited unexpectedly")
	}
}
