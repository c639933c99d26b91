package retry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/onec-connect/connect-bridge/internal/clock"
	"github.com/onec-connect/connect-bridge/internal/retry"
)

// TestMain fails the run if a test leaves a goroutine behind: the package
// starts none.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var errDown = errors.New("down")

// exact is a policy without jitter, so that waits are checkable.
func exact(initial, maxWait time.Duration) retry.Policy {
	return retry.Policy{Initial: initial, Max: maxWait, Jitter: -1}
}

// failing returns an op that fails n times with errDown, then returns
// final, recording when (since start) each attempt ran.
func failing(n int, final error, start time.Time, at *[]time.Duration) func(context.Context) error {
	return func(context.Context) error {
		*at = append(*at, time.Since(start))
		if len(*at) <= n {
			return fmt.Errorf("attempt %d: %w", len(*at), errDown)
		}
		return final
	}
}

func TestDo(t *testing.T) {
	t.Parallel()
	errBad := errors.New("bad request")
	ms := time.Millisecond
	cases := []struct {
		name     string
		policy   retry.Policy
		failures int           // attempts that fail with errDown
		final    error         // what the attempt after them returns
		timeout  time.Duration // of the context; 0 for none
		want     []time.Duration
		wantErr  []error // errors.Is targets; nil for success
	}{
		{name: "succeeds at once", policy: exact(100*ms, 5*time.Second), want: []time.Duration{0}},
		{
			name: "doubles until it succeeds", policy: exact(100*ms, 5*time.Second), failures: 3,
			want: []time.Duration{0, 100 * ms, 300 * ms, 700 * ms},
		},
		{
			name: "waits are capped", policy: exact(time.Second, 3*time.Second), failures: 4,
			want: []time.Duration{0, time.Second, 3 * time.Second, 6 * time.Second, 9 * time.Second},
		},
		{
			name: "multiplier", policy: retry.Policy{Initial: 100 * ms, Max: time.Second, Multiplier: 3, Jitter: -1}, failures: 2,
			want: []time.Duration{0, 100 * ms, 400 * ms},
		},
		{
			name: "permanent error stops at once", policy: exact(100*ms, time.Second), failures: 1, final: retry.Permanent(errBad),
			want: []time.Duration{0, 100 * ms}, wantErr: []error{errBad},
		},
		{
			name: "wrapped permanent error stops too", policy: exact(100*ms, time.Second), final: fmt.Errorf("call: %w", retry.Permanent(errBad)),
			want: []time.Duration{0}, wantErr: []error{errBad},
		},
		{
			name: "attempts bound", policy: retry.Policy{Initial: 100 * ms, Jitter: -1, Attempts: 3}, failures: 10,
			want: []time.Duration{0, 100 * ms, 300 * ms}, wantErr: []error{errDown},
		},
		{
			name: "context ends during a wait", policy: exact(100*ms, time.Second), failures: 10, timeout: 250 * ms,
			want: []time.Duration{0, 100 * ms}, wantErr: []error{errDown, context.DeadlineExceeded},
		},
		{
			name: "context ended before the first attempt", policy: exact(100*ms, time.Second), timeout: -1,
			want: nil, wantErr: []error{context.Canceled},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ctx := t.Context()
				switch {
				case tc.timeout > 0:
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.timeout)
					defer cancel()
				case tc.timeout < 0:
					var cancel context.CancelFunc
					ctx, cancel = context.WithCancel(ctx)
					cancel()
				}
				start := time.Now()
				var at []time.Duration
				type retried struct {
					attempt int
					wait    time.Duration
				}
				var hooks []retried
				p := tc.policy
				p.OnRetry = func(err error, attempt int, wait time.Duration) {
					require.ErrorIs(t, err, errDown)
					hooks = append(hooks, retried{attempt, wait})
				}
				err := retry.Do(ctx, clock.Real{}, p, failing(tc.failures, tc.final, start, &at))
				require.Equal(t, tc.want, at, "when each attempt ran")
				for i, h := range hooks {
					require.Equal(t, i+1, h.attempt)
					if i+1 < len(tc.want) {
						require.Equal(t, tc.want[i+1]-tc.want[i], h.wait, "the hook is told the wait that follows")
					}
				}
				if tc.wantErr == nil {
					require.NoError(t, err)
					require.Len(t, hooks, tc.failures)
					return
				}
				for _, target := range tc.wantErr {
					require.ErrorIs(t, err, target)
				}
				if tc.timeout > 0 {
					require.Equal(t, tc.timeout, time.Since(start), "Do returned when its context ended, not after the wait")
					require.Len(t, hooks, len(at), "the wait cut short was announced")
				}
			})
		})
	}
}

func TestDoReturnsAnUnwrappedPermanentError(t *testing.T) {
	t.Parallel()
	errBad := errors.New("bad")
	err := retry.Do(t.Context(), nil, retry.Policy{}, func(context.Context) error { return retry.Permanent(errBad) })
	require.Same(t, errBad, err)
	require.NoError(t, retry.Permanent(nil))
}

func TestDoPassesItsContext(t *testing.T) {
	t.Parallel()
	type key struct{}
	ctx := context.WithValue(t.Context(), key{}, "v")
	err := retry.Do(ctx, nil, retry.Policy{}, func(ctx context.Context) error {
		require.Equal(t, "v", ctx.Value(key{}))
		return nil
	})
	require.NoError(t, err)
}

func TestBadPolicy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		policy retry.Policy
		want   string
	}{
		{"negative initial", retry.Policy{Initial: -time.Second}, "negative wait"},
		{"negative max", retry.Policy{Max: -time.Second}, "negative wait"},
		{"max below initial", retry.Policy{Initial: 2 * time.Second, Max: time.Second}, "below initial"},
		{"multiplier below 1", retry.Policy{Multiplier: 0.5}, "multiplier"},
		{"jitter above 1", retry.Policy{Jitter: 1.5}, "jitter"},
		{"negative attempts", retry.Policy{Attempts: -1}, "attempts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := retry.NewBackoff(tc.policy)
			require.ErrorContains(t, err, tc.want)
			called := false
			err = retry.Do(t.Context(), nil, tc.policy, func(context.Context) error { called = true; return nil })
			require.ErrorContains(t, err, tc.want)
			require.False(t, called, "no attempt under a bad policy")
		})
	}
	b, err := retry.NewBackoff(retry.Policy{Initial: 10 * time.Second, Jitter: -1})
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, b.Next(), "a long initial wait raises the default max")
	require.Equal(t, 10*time.Second, b.Next())
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b, err := retry.NewBackoff(exact(time.Second, 5*time.Second))
	require.NoError(t, err)
	var got []time.Duration
	for range 5 {
		got = append(got, b.Next())
	}
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}, got)
	b.Reset()
	require.Equal(t, time.Second, b.Next(), "Reset starts again from the initial wait")

	// The zero policy: 100ms doubling, jittered by ±20%.
	b, err = retry.NewBackoff(retry.Policy{})
	require.NoError(t, err)
	seen := map[time.Duration]bool{}
	for i := range 200 {
		if i%4 == 0 {
			b.Reset()
		}
		w := b.Next()
		base := 100 * time.Millisecond << (i % 4)
		require.GreaterOrEqual(t, w, base*8/10, "wait %d", i)
		require.LessOrEqual(t, w, base*12/10+1, "wait %d", i)
		seen[w] = true
	}
	require.Greater(t, len(seen), 50, "waits are jittered, not fixed")
}

func TestSleep(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		d       time.Duration
		cancel  time.Duration // cancel the context after this; 0 for never
		slept   time.Duration
		wantErr error
	}{
		{name: "waits the whole duration", d: time.Hour, slept: time.Hour},
		{name: "ends with the context", d: time.Hour, cancel: time.Minute, slept: time.Minute, wantErr: context.Canceled},
		{name: "zero does not wait", d: 0, slept: 0},
		{name: "negative does not wait", d: -time.Second, slept: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				if tc.cancel > 0 {
					stop := time.AfterFunc(tc.cancel, cancel)
					defer stop.Stop()
				}
				start := time.Now()
				err := retry.Sleep(ctx, clock.Real{}, tc.d)
				require.Equal(t, tc.slept, time.Since(start))
				if tc.wantErr != nil {
					require.ErrorIs(t, err, tc.wantErr)
					return
				}
				require.NoError(t, err)
			})
		})
	}
	ctx, cancel := context.WithCancelCause(t.Context())
	errStop := errors.New("stopping")
	cancel(errStop)
	require.ErrorIs(t, retry.Sleep(ctx, nil, 0), errStop, "an ended context is reported with its cause, even without a wait")
	require.ErrorIs(t, retry.Sleep(ctx, nil, time.Hour), errStop)
}
