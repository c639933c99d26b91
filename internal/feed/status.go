package feed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// FeedStatus is one feed as `worker feeds` shows it.
type FeedStatus struct {
	Feed
	State
	// Lag is now less the marker; zero before the first complete poll.
	Lag time.Duration
	// NextPoll is when the next poll is due: the last one's start plus
	// the interval.
	NextPoll time.Time
	// Held reports whether a poller holds the feed's lease now.
	Held bool
}

// Status reads the stored state of feeds: their markers, counts and
// leases, as any replica (or a tool) sees them. names are the buckets'
// (zero: the defaults).
func Status(ctx context.Context, js jetstream.JetStream, names Names, feeds []Feed, now time.Time) ([]FeedStatus, error) {
	names = names.withDefaults()
	markers, err := js.KeyValue(ctx, names.MarkerBucket)
	if err != nil {
		return nil, fmt.Errorf("feed: bucket %s: %w", names.MarkerBucket, err)
	}
	leases, err := js.KeyValue(ctx, names.LeaseBucket)
	if err != nil {
		return nil, fmt.Errorf("feed: bucket %s: %w", names.LeaseBucket, err)
	}
	s := &store{markers: markers, leases: leases}
	out := make([]FeedStatus, 0, len(feeds))
	for _, f := range feeds {
		f = f.withDefaults()
		st, _, err := s.state(ctx, f.Name)
		if err != nil {
			return nil, err
		}
		// A feed known only by its stored state: its read and interval
		// as of its last poll.
		f.Read, f.Interval = cmp.Or(f.Read, st.Op), cmp.Or(f.Interval, st.Every)
		fs := FeedStatus{Feed: f, State: st}
		if !st.Marker.IsZero() {
			fs.Lag = now.Sub(st.Marker)
		}
		if !st.LastPoll.IsZero() {
			fs.NextPoll = st.LastPoll.Add(time.Duration(f.Interval))
		}
		_, err = leases.Get(ctx, f.Name)
		switch {
		case err == nil:
			fs.Held = true
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return nil, fmt.Errorf("feed: lease of %s: %w", f.Name, err)
		}
		out = append(out, fs)
	}
	return out, nil
}
