package daemon

import (
	"bufio"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/feed"
	"github.com/onec-connect/connect-bridge/internal/quota"
)

// mirrorListIdle bounds how long `worker mirror ls` waits for the next
// record before it gives up: the server sends them back to back.
const mirrorListIdle = 10 * time.Second

// PrintFeeds prints the feeds as every replica sees them, one line each:
// the feeds of cfg (their read and interval known), then any other feed
// whose state is stored (read and next poll unknown). Times are in the
// quota's time zone.
func PrintFeeds(ctx context.Context, cfg Config, w io.Writer) error {
	nc, js, err := toolConn(cfg, "connect-worker-feeds")
	if err != nil {
		return err
	}
	defer nc.Close()
	feeds := slices.Clone(cfg.Feeds.Feeds)
	var known []string
	for _, f := range feeds {
		known = append(known, cmp.Or(f.Name, f.Read))
	}
	others, err := storedOthers(ctx, js, feed.MarkerBucket, "feed", known)
	if err != nil {
		return err
	}
	for _, k := range others {
		feeds = append(feeds, feed.Feed{Name: k})
	}
	if len(feeds) == 0 {
		_, err := fmt.Fprintln(w, "No feed is configured (--feed, FEEDS, the config file's feeds) and none is stored.")
		return err
	}
	now := time.Now()
	st, err := feed.Status(ctx, js, feed.Names{}, feeds, now)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return writeFeeds(w, st, now, cmp.Or(cfg.Quota.Windows.Location, quota.MoscowTime()))
}

// writeFeeds writes the table of `worker feeds`.
func writeFeeds(w io.Writer, st []feed.FeedStatus, now time.Time, loc *time.Location) error {
	fmt.Fprintf(w, "feeds at %s (times in %s)\n\n", now.In(loc).Format("2006-01-02 15:04:05 MST"), loc)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "FEED\tREAD\tINTERVAL\tMARKER\tLAG\tLAST POLL\tNEXT POLL\tPOLLS\tEVENTS\tROWS\tHELD")
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.In(loc).Format("2006-01-02 15:04:05")
	}
	for _, s := range st {
		read, interval, lag, next := cmp.Or(s.Read, "?"), "?", "-", "-"
		if s.Interval > 0 {
			interval = time.Duration(s.Interval).String()
		}
		if !s.Marker.IsZero() {
			lag = s.Lag.Round(time.Second).String()
		}
		switch {
		case s.Interval == 0 || s.NextPoll.IsZero():
		case s.NextPoll.After(now):
			next = "in " + s.NextPoll.Sub(now).Round(time.Second).String()
		default:
			next = "due"
		}
		held := "no"
		if s.Held {
			held = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", s.Name, read, interval, at(s.Marker), lag,
			at(s.LastPoll), next, s.Polls, s.Events, s.Rows, held)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\nMARKER: where the next poll reads from, less the overlap; \"-\" until the first complete poll (the backfill). HELD: a replica polls the feed now.")
	return err
}

// mirrorObject checks that object is what a feed mirrors: the object of
// a change-tracked read (ClientUser for ClientUserRead).
func mirrorObject(object string) error {
	var names []string
	for _, op := range catalog.ChangeTracked() {
		if op.Object == object {
			return nil
		}
		if !slices.Contains(names, op.Object) {
			names = append(names, op.Object)
		}
	}
	slices.Sort(names)
	return fmt.Errorf("daemon: no feed mirrors objects of the kind %q; the mirror holds %s", object, strings.Join(names, ", "))
}

// mirrorBucket opens the mirror for reading.
func mirrorBucket(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, feed.MirrorBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("daemon: no mirror on this NATS yet: no feed has run (no bucket %s)", feed.MirrorBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("daemon: bucket %s: %w", feed.MirrorBucket, err)
	}
	return kv, nil
}

// mirrored is a record of the mirror as `worker mirror get` prints it.
type mirrored struct {
	Object string `json:"object"`
	ID     string `json:"id"`
	feed.Record
}

// PrintMirrorRecord prints the mirror's record of one object as JSON:
// its object name and id, then the record as stored.
func PrintMirrorRecord(ctx context.Context, cfg Config, w io.Writer, object, id string) error {
	if err := mirrorObject(object); err != nil {
		return err
	}
	if id == "" {
		return errors.New("daemon: an object's id is required")
	}
	nc, js, err := toolConn(cfg, "connect-worker-mirror")
	if err != nil {
		return err
	}
	defer nc.Close()
	kv, err := mirrorBucket(ctx, js)
	if err != nil {
		return err
	}
	r, err := feed.Mirror(ctx, kv, object, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("daemon: no %s %s in the mirror (key %s)", object, printable(id), feed.MirrorKey(object, id))
	}
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	b, err := json.MarshalIndent(mirrored{Object: object, ID: id, Record: r}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// PrintMirrorList prints one line per object of the kind in the mirror:
// id, version, deleted, seen (tab-separated, under a header), in the
// order the records were last written; it writes how many to summary.
// It reads the bucket's last record of every key <object>.* once (a
// record written while it reads may show twice) and decodes each key's
// base64url id.
func PrintMirrorList(ctx context.Context, cfg Config, w, summary io.Writer, object string) error {
	if err := mirrorObject(object); err != nil {
		return err
	}
	nc, js, err := toolConn(cfg, "connect-worker-mirror")
	if err != nil {
		return err
	}
	defer nc.Close()
	kv, err := mirrorBucket(ctx, js)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch, err := kv.WatchFiltered(wctx, []string{object + ".*"}, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("daemon: mirror: %w", err)
	}
	defer func() { _ = watch.Stop() }()
	out := bufio.NewWriter(w)
	fmt.Fprintln(out, "ID\tVERSION\tDELETED\tSEEN")
	var n, deleted, unreadable int
	idle := time.NewTimer(mirrorListIdle)
	defer idle.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-idle.C:
			return fmt.Errorf("daemon: mirror: no record came for %s after %d", mirrorListIdle, n)
		case e, ok := <-watch.Updates():
			if !ok {
				return errors.New("daemon: mirror: the listing was cut")
			}
			if e == nil { // every record there was when the listing began
				done = true
				break
			}
			idle.Reset(mirrorListIdle)
			line, del, ok := mirrorLine(object, e.Key(), e.Value())
			if !ok {
				unreadable++
			}
			if del {
				deleted++
			}
			n++
			fmt.Fprintln(out, line)
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(summary, "%d %s objects in the mirror, %d of them deleted\n", n, object, deleted)
	if unreadable > 0 {
		return fmt.Errorf("daemon: mirror: %d records the feeds did not write (their fields show \"?\")", unreadable)
	}
	return nil
}

// mirrorLine is the line of one record: its id (from the key), version,
// deleted flag and the time it was seen; ok is false when the key or the
// record is not the feeds' (shown with "?").
func mirrorLine(object, key string, value []byte) (line string, deleted, ok bool) {
	id := "?" + key
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(key, object+"."))
	ok = err == nil
	if ok {
		id = printable(string(raw))
	}
	var r struct {
		Version string    `json:"version"`
		Deleted bool      `json:"deleted"`
		Seen    time.Time `json:"seen"`
	}
	if err := json.Unmarshal(value, &r); err != nil || r.Version == "" {
		return id + "\t?\t?\t?", false, false
	}
	return fmt.Sprintf("%s\t%s\t%t\t%s", id, printable(r.Version), r.Deleted, r.Seen.UTC().Format(time.RFC3339)), r.Deleted, ok
}

// printable quotes s when it holds a space or a character that is not
// graphic: an id comes from the service, and must not move a terminal's
// cursor nor split a line.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.IsSpace(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
