// Package procs starts and supervises child processes (Envoy, milvus-lite):
// each runs in its own process group, dies with the edge (Pdeathsig), has its
// output relayed to the log, and keeps its last lines for error reports.
package procs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

const tailLines = 30

// Proc is a started child process.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done is closed

	// mu guards tail.
	mu   sync.Mutex
	tail []string
}

// Start runs path with args; its output lines go to log with child=name.
func Start(log *slog.Logger, name, path string, args []string, env []string) (*Proc, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go p.relay(log, pr)
	go func() {
		p.err = cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *Proc) relay(log *slog.Logger, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		p.mu.Lock()
		p.tail = append(p.tail, line)
		if len(p.tail) > tailLines {
			p.tail = p.tail[len(p.tail)-tailLines:]
		}
		p.mu.Unlock()
		log.LogAttrs(context.Background(), slog.LevelInfo, line, slog.String("child", p.Name))
	}
	_, _ = io.Copy(io.Discard, r)
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the exit error once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Tail returns the last lines the process printed.
func (p *Proc) Tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// Stop sends SIGINT to the process group, then SIGKILL after grace.
func (p *Proc) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not stop within %s; killed", p.Name, grace)
	}
}

// Supervise waits until ctx ends (then stops the process and returns nil) or
// the process exits on its own (an error naming it, with its last output).
func (p *Proc) Supervise(ctx context.Context, grace time.Duration) error {
	select {
	case <-ctx.Done():
		return p.Stop(grace)
	case <-p.done:
		err := p.err
		if err == nil {
			err = errors.New("exit status 0")
		}
		return fmt.Errorf("%s exited unexpectedly: %w\n--- last output of %s ---\n%s", p.Name, err, p.Name, p.Tail())
	}
}
