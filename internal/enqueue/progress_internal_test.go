package enqueue

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer safe for the bars' goroutine and the
// test's.
type lockedBuffer struct {
	mu sync.Mutex // protects b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDisplayDrawsBarsAndLinesAbove draws on a buffer taken for a
// terminal: the bars with counts and rates, the estimate, and a note
// written meanwhile above them; once stopped, writes go straight through.
func TestDisplayDrawsBarsAndLinesAbove(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex // protects clock
	clock := start
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	d := newDisplay(&out, true, 5*time.Millisecond, now, true)
	require.NotNil(t, d)
	mu.Lock()
	clock = start.Add(10 * time.Second)
	mu.Unlock()
	d.update(counts{published: 5000, total: 10000, results: 300, expected: 10000})
	d.setEstimate(Estimate{At: start, Calls: 97, Finish: start.Add(10*time.Second + 3*time.Hour + 40*time.Minute), Rate: 225, Ledger: true, Ops: 1})
	w := d.above(&out)
	_, err := w.Write([]byte("enqueue: a note\n"))
	require.NoError(t, err)
	d.stop()
	_, err = w.Write([]byte("after\n"))
	require.NoError(t, err)

	got := out.String()
	for _, want := range []string{"published", " 5000/10000  500/s", "results", " 300/10000  30/s", "enqueue: a note\n"} {
		require.Contains(t, got, want)
	}
	require.True(t, strings.HasSuffix(got, "after\n"), "written straight once stopped: %q", got)
	require.Less(t, strings.Index(got, "enqueue: a note"), strings.LastIndex(got, "published"), "the note goes above the bars")
}

// TestDisplayNotOnAFile: a file is no terminal, nothing is drawn and
// lines go straight through.
func TestDisplayNotOnAFile(t *testing.T) {
	t.Parallel()
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	require.False(t, IsTerminal(f))
	require.False(t, IsTerminal(nil))
	require.False(t, IsTerminal(&lockedBuffer{}))
	require.False(t, sameTerminal(f, f))
	d := newDisplay(f, true, time.Millisecond, time.Now, false)
	require.Nil(t, d)
	var buf lockedBuffer
	require.Same(t, &buf, d.above(&buf).(*lockedBuffer))
}

func TestRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n       int
		elapsed time.Duration
		want    string
	}{
		{0, time.Second, "0/s"},
		{5, 0, "0/s"},
		{1234, time.Second, "1234/s"},
		{35, 10 * time.Second, "3.5/s"},
		{12, time.Minute, "12.0/min"},
		{40, time.Hour, "40.0/h"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, rate(tt.n, tt.elapsed))
		})
	}
}
