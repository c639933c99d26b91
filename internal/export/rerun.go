package export

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/onec-connect/connect-bridge/internal/retry"
)

// RerunResult is what a rerun did.
type RerunResult struct {
	// Chunks are the chunks read, Calls the calls made for them
	// (halvings included).
	Chunks, Calls int
	// Rows are the rows read; Published those the stream stored as new,
	// Duplicates those it dropped, having stored them within its
	// duplicate window.
	Rows, Published, Duplicates int
}

// ErrNoExport is wrapped by Rerun's error when the name is neither an
// export of the Config nor a read that can be exported.
var ErrNoExport = errors.New("export: no such export")

// Rerun reads [from, to) (to the second) of an export's read again, on
// request (corrections, backfills of what came before its since), and
// publishes its rows as the export does: a row the stream stored within
// its duplicate window is dropped, so a rerun of an exported range
// publishes nothing new. name is an export of the Config, or else a read
// of catalog.PeriodReads, read with the defaults. The export's marker is
// not touched, and no lease is needed: a rerun beside a running export
// only spends calls of the same share. Calls are waited for as the quota
// grants them; a chunk that cannot be read even at the minimum chunk
// ends the rerun with an error, and so does ctx.
func (r *Runner) Rerun(ctx context.Context, name string, from, to time.Time) (RerunResult, error) {
	j, err := r.rerunJob(name)
	if err != nil {
		return RerunResult{}, err
	}
	from, to = from.Truncate(time.Second), to.Truncate(time.Second)
	if !from.Before(to) {
		return RerunResult{}, fmt.Errorf("export: rerun %s: the period from %s to %s is empty", name, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if err := r.setup(ctx); err != nil {
		return RerunResult{}, err
	}
	log := r.log.With().Str("export", j.Name).Str("rerun", from.Format(time.RFC3339)+"/"+to.Format(time.RFC3339)).Logger()
	var out RerunResult
	sp := newSpans(time.Duration(j.Chunk), r.cfg.MinChunk)
	bo, _ := retry.NewBackoff(retry.Policy{Initial: time.Second, Max: time.Minute})
	for at := from; at.Before(to); {
		end := at.Add(sp.cur)
		if end.After(to) {
			end = to
		}
		res := r.read(ctx, j, at, end)
		if res.called {
			out.Calls++
			r.met.calls.WithLabelValues(j.Name).Inc()
		}
		r.met.reads.WithLabelValues(j.Name, res.outcome).Inc()
		out.Rows += res.rows
		out.Published += res.published
		out.Duplicates += res.duplicates
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		wait := time.Duration(0)
		switch res.outcome {
		case outSuccess:
			bo.Reset()
			out.Chunks++
			sp.fitted(end.Sub(at), res.bytes, r.cfg.MaxResponseBytes)
			at = end
		case outNoGrant, outOutOfLimit:
			wait = res.retryAt.Sub(r.cfg.Clock.Now())
		case outTooLarge, outRefused:
			if _, ok := sp.halve(end.Sub(at), res.outcome == outRefused); ok {
				r.met.halvings.WithLabelValues(j.Name, res.outcome).Inc()
				continue
			}
			return out, fmt.Errorf("export: rerun %s: the chunk from %s cannot be read even at %s: %w", name, at.Format(time.RFC3339), r.cfg.MinChunk, res.err)
		case outFailed:
			return out, fmt.Errorf("export: rerun %s: the chunk from %s cannot be read: %w", name, at.Format(time.RFC3339), res.err)
		default:
			wait = bo.Next()
			log.Warn().Err(res.err).Str("outcome", res.outcome).Dur("retry_in", wait).Msg("reading a chunk failed")
		}
		if wait > 0 {
			if err := retry.Sleep(ctx, r.cfg.Clock, wait); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// rerunJob is the job of the export named name, or of the read named
// name with the defaults.
func (r *Runner) rerunJob(name string) (*job, error) {
	for _, j := range r.jobs {
		if j.Name == name {
			return j, nil
		}
	}
	x := Export{Op: name}.withDefaults()
	if err := x.validateRead(r.cfg.MinChunk); err != nil {
		return nil, fmt.Errorf("%w %q: not one of this process's exports, and: %w", ErrNoExport, name, err)
	}
	return newJob(x), nil
}
