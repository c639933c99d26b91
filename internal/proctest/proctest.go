// Package proctest runs real processes for tests: the binary under test as
// a child (to kill it, or to run it under limits), its output captured in a
// buffer that is safe to read while the child writes.
package proctest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer safe for concurrent use.
type Buffer struct {
	mu sync.Mutex // protects b
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines returns the non-empty lines written.
func (s *Buffer) Lines() []string {
	var out []string
	for l := range strings.SplitSeq(s.String(), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Proc is a running child process and its output (stdout and stderr).
type Proc struct {
	Cmd *exec.Cmd
	Out *Buffer
}

// Start starts path with args and extra environment variables, and kills
// it when the test ends (printing the end of its output if the test
// failed).
func Start(t testing.TB, path string, args, env []string) *Proc {
	t.Helper()
	cmd := exec.Command(path, args...)
	out := &Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("proctest: start %s: %v", path, err)
	}
	p := &Proc{Cmd: cmd, Out: out}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			s := out.String()
			if len(s) > 8<<10 {
				s = s[len(s)-8<<10:]
			}
			t.Logf("output of %s (the last 8 KB):\n%s", path, s)
		}
	})
	return p
}

// WaitOutput waits until the process has written want, at most d.
func (p *Proc) WaitOutput(t testing.TB, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(p.Out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("proctest: %q not written within %s", want, d)
		}
		<-tick.C
	}
}
