package emulator_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// trackedObjects fills the kind of a change-tracked read with three
// objects and returns their ids: seeded for kinds with ids of their own,
// Put for associations.
func trackedObjects(t *testing.T, srv *emulator.Server, op *catalog.Operation) []string {
	t.Helper()
	if len(op.IDColumns) == 1 {
		ids, err := srv.SeedObjects(op.Object, 3)
		require.NoError(t, err)
		return ids
	}
	var ids []string
	for i := range 3 {
		id := fmt.Sprintf("00000000-0000-4000-8000-0000000000a%d/00000000-0000-4000-8000-0000000000b%d", i, i)
		got, err := srv.Put(op.Object, id, nil)
		require.NoError(t, err)
		ids = append(ids, got)
	}
	return ids
}

// deleteParams returns the Structure that deletes o through the API: the
// Delete operation's required parameters, from the object's row.
func deleteParams(t *testing.T, op *catalog.Operation, o emulator.Object) (string, soap.Value) {
	t.Helper()
	del, ok := catalog.Lookup(op.Object + "Delete")
	require.True(t, ok)
	var kv []any
	for _, p := range del.Params {
		if p.Required {
			kv = append(kv, p.Name, o.Row[p.Name])
		}
	}
	return del.Name, obj(kv...)
}

// idOf joins a read's row's id columns as the store names the object.
func idOf(op *catalog.Operation, row map[string]any) string {
	parts := make([]string, len(op.IDColumns))
	for i, c := range op.IDColumns {
		parts[i], _ = row[c].(string)
	}
	return strings.Join(parts, "/")
}

// TestChangedFromSemantics runs every change-tracked read against a store
// where one object was edited at t1 and one deleted a second later: a
// read answers the objects changed at or after ChangedFrom, to the second,
// read as a wall clock in the account's zone (or as the instant an offset
// names), deleted ones with Deleted=true, each row carrying the
// catalogue's id columns.
func TestChangedFromSemantics(t *testing.T) {
	t.Parallel()
	// The account's zone is not Moscow, so that a read that took
	// ChangedFrom in another zone would show.
	almaty := time.FixedZone("ALMT", 5*60*60)
	t1 := t0.Add(time.Hour).In(almaty) // 13:30:00 in Almaty; the objects are made at t0
	tests := []struct {
		name string
		from soap.Value // nil: no ChangedFrom
		want []int      // the objects answered: 0 edited at t1, 1 deleted at t1+1s, 2 untouched since t0
	}{
		{name: "exactly the edit", from: soap.DateTime(t1), want: []int{0, 1}},
		{name: "a fraction after the edit: seconds", from: soap.Value{Kind: soap.KindDateTime, Text: "2024-02-26T13:30:00.900"}, want: []int{0, 1}},
		{name: "a second after the edit", from: soap.DateTime(t1.Add(time.Second)), want: []int{1}},
		{name: "after both", from: soap.DateTime(t1.Add(2 * time.Second)), want: nil},
		{name: "an offset names the instant", from: soap.Value{Kind: soap.KindDateTime, Text: "2024-02-26T08:30:01Z"}, want: []int{1}},
		{name: "a Moscow wall clock is read in the account's zone", from: soap.DateTime(t1.In(msk)), want: []int{0, 1, 2}},
		{name: "none", from: soap.Null(), want: []int{0, 1, 2}},
	}
	for _, op := range catalog.ChangeTracked() {
		t.Run(op.Name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, emulator.Config{Location: almaty})
			ids := trackedObjects(t, b.srv, op)
			b.clock.Advance(time.Hour)
			o, ok := b.srv.Get(op.Object, ids[0])
			require.True(t, ok)
			fields := o.Fields
			fields["Name"] = soap.String("Edited")
			_, err := b.srv.Put(op.Object, ids[0], fields)
			require.NoError(t, err)
			b.clock.Advance(time.Second)
			o, _ = b.srv.Get(op.Object, ids[1])
			del, params := deleteParams(t, op, o)
			b.mustCall(t, del, params)

			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					params := obj()
					if !tt.from.IsNil() {
						params = obj(catalog.ParamChangedFrom, tt.from)
					}
					resp := b.mustCall(t, op.Name, params)
					for _, c := range append(slices.Clone(op.IDColumns), catalog.ColumnDeleted) {
						require.Contains(t, columns(t, resp), c, "every row carries the id columns and Deleted")
					}
					var got []string
					for _, row := range rows(t, resp) {
						id := idOf(op, row)
						got = append(got, id)
						require.Equal(t, id == ids[1], row[catalog.ColumnDeleted], "%s: Deleted", id)
					}
					var want []string
					for _, i := range tt.want {
						want = append(want, ids[i])
					}
					require.Equal(t, want, got)
				})
			}
		})
	}
}

// TestChangedFromWithFilter checks ClientUserRead's ClientID beside
// ChangedFrom: both apply.
func TestChangedFromWithFilter(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	mine := b.srv.SeedClientUsers(2)
	other, err := b.srv.Put("ClientUser", "", map[string]soap.Value{"ClientID": soap.String("00000000-0000-4000-9000-000000000002")})
	require.NoError(t, err)
	b.clock.Advance(time.Minute)
	t1 := b.clock.Now()
	b.mustCall(t, "ClientUserEdit", userEdit(mine[1], "Edited"))
	b.mustCall(t, "ClientUserDelete", obj("ClientUserID", soap.String(other)))
	tests := []struct {
		name   string
		params soap.Value
		want   []string
	}{
		{name: "client and moment", params: obj("ChangedFrom", soap.DateTime(t1), "ClientID", soap.String(emulator.SeedClientID)), want: []string{mine[1]}},
		{name: "the other client since", params: obj("ChangedFrom", soap.DateTime(t1), "ClientID", soap.String("00000000-0000-4000-9000-000000000002")), want: []string{other}},
		{name: "client only", params: obj("ClientID", soap.String(strings.ToUpper(emulator.SeedClientID))), want: mine},
		{name: "moment only", params: obj("ChangedFrom", soap.DateTime(t1)), want: []string{mine[1], other}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, row := range rows(t, b.mustCall(t, "ClientUserRead", tt.params)) {
				got = append(got, row["ClientUserID"].(string))
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// TestObjectsAreTheReadsRows checks Objects against every change-tracked
// read: each object's Row is its row in the read, cell for cell.
func TestObjectsAreTheReadsRows(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	for _, op := range catalog.ChangeTracked() {
		trackedObjects(t, b.srv, op)
	}
	for _, op := range catalog.ChangeTracked() {
		t.Run(op.Name, func(t *testing.T) {
			resp := b.mustCall(t, op.Name, obj())
			objs := b.srv.Objects(op.Object)
			require.Len(t, resp.Data.Table.Rows, len(objs))
			for i, o := range objs {
				require.Equal(t, o.Deleted, o.Row[catalog.ColumnDeleted].Text == "true")
				require.Equal(t, o.ID, idOf(op, resp.Data.Table.Maps()[i]))
				for j, c := range resp.Data.Table.Columns {
					cell, ok := o.Row[c.Name]
					if !ok {
						require.True(t, resp.Data.Table.Rows[i][j].IsNil(), "%s: a column of another object's field", c.Name)
						continue
					}
					require.Equal(t, cell.Text, resp.Data.Table.Rows[i][j].Text, "%s %s", o.ID, c.Name)
				}
			}
		})
	}
	require.Nil(t, b.srv.Objects("Nothing"))
	_, err := b.srv.Put("Client", "", map[string]soap.Value{"a b": soap.String("x")})
	require.ErrorContains(t, err, "not a name")
}

// TestSeedObjects checks the fast seeding of every kind it makes.
func TestSeedObjects(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"Client", "ClientUser", "Specialist", "Department", "ClientDepartment", "ServiceLineKind"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			b := setup(t, emulator.Config{})
			ids, err := b.srv.SeedObjects(kind, 50)
			require.NoError(t, err)
			require.Len(t, ids, 50)
			require.Len(t, slices.Compact(slices.Sorted(slices.Values(ids))), 50, "distinct ids")
			var read []string
			for _, o := range b.srv.Objects(kind) {
				if slices.Contains(ids, o.ID) {
					read = append(read, o.ID)
					require.False(t, o.Deleted)
					require.Equal(t, t0, o.Changed)
				}
			}
			require.Equal(t, ids, read)
			require.Empty(t, b.srv.Stats().Churn, "seeding is not churn")
		})
	}
	b := setup(t, emulator.Config{})
	for _, kind := range []string{"Competence", "UserServiceLine", "Region", "Nothing"} {
		_, err := b.srv.SeedObjects(kind, 1)
		require.ErrorContains(t, err, "not a kind SeedObjects makes", kind)
	}
	_, err := b.srv.SeedObjects("Client", -1)
	require.ErrorContains(t, err, "negative")

	start := time.Now()
	ids, err := b.srv.SeedObjects("ClientUser", 100_000)
	require.NoError(t, err)
	require.Len(t, ids, 100_000)
	t.Logf("seeded 100,000 client users in %v", time.Since(start))
}

// serve runs one SOAP call through srv.ServeHTTP, without a network (for
// a synctest bubble).
func serve(t *testing.T, srv *emulator.Server, req *soap.Request) (*soap.Response, http.Header) {
	t.Helper()
	var body bytes.Buffer
	require.NoError(t, soap.EncodeRequest(&body, soap.SOAP11, req))
	hr := httptest.NewRequest(http.MethodPost, emulator.Path, &body)
	hr.SetBasicAuth("admin", "admin")
	hr.Header.Set("Content-Type", "text/xml; charset=utf-8")
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, hr)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	resp, err := soap.DecodeResponse(w.Body, soap.Limits{})
	require.NoError(t, err)
	return resp, w.Result().Header
}

// churnRun runs srv's churn for d of simulated time and stops it.
func churnRun(t *testing.T, srv *emulator.Server, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	time.Sleep(d)
	synctest.Wait()
	cancel()
	require.NoError(t, <-done)
}

// TestChurn runs the churn for ten simulated minutes: it makes its rate
// of changes, of every change-tracked kind, creations, edits and
// deletions, stamped as they happen and answered by the reads with
// ChangedFrom; the same seed makes the same changes.
func TestChurn(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cfg := emulator.Config{Churn: 120, Seed: 7, Location: msk}
		srv, err := emulator.New(cfg)
		require.NoError(t, err)
		start := time.Now()
		churnRun(t, srv, 10*time.Minute+time.Millisecond)

		total := 0
		for _, op := range catalog.ChangeTracked() {
			c := srv.Stats().Churn[op.Object]
			total += c.Created + c.Edited + c.Deleted
			require.Positive(t, c.Created, op.Object)
			if op.Object == "ClientUser" || op.Object == "Specialist" || op.Object == "Client" {
				require.Positive(t, c.Edited, op.Object)
				require.Positive(t, c.Deleted, op.Object)
			}
		}
		// 120 a minute for 10 minutes, and the partners some changes
		// created with them.
		require.GreaterOrEqual(t, total, 1200)
		require.Less(t, total, 1300)

		// The changes were spread over the ten minutes, and a read from
		// the middle answers exactly those stamped at or after it.
		mid := start.Add(5 * time.Minute).In(msk)
		for _, op := range catalog.ChangeTracked() {
			var want []string
			for _, o := range srv.Objects(op.Object) {
				require.False(t, o.Changed.Before(start.Truncate(time.Second)), "stamped by the sandbox's clock")
				require.False(t, o.Changed.After(start.Add(10*time.Minute)))
				if !o.Changed.Before(mid) {
					want = append(want, o.ID)
				}
			}
			resp, _ := serve(t, srv, &soap.Request{Op: op.Name, Params: obj(catalog.ParamChangedFrom, soap.DateTime(mid))})
			var got []string
			for _, row := range resp.Data.Table.Maps() {
				got = append(got, idOf(op, row))
			}
			require.Equal(t, want, got, op.Name)
			require.NotEmpty(t, got, "%s: changes in the second half", op.Name)
			require.Less(t, len(got), len(srv.Objects(op.Object)), "%s: changes in the first half", op.Name)
		}

		// Deterministic with the seed; another seed changes other things.
		again, err := emulator.New(cfg)
		require.NoError(t, err)
		cfg.Seed = 8
		other, err := emulator.New(cfg)
		require.NoError(t, err)
		churnRun(t, again, 10*time.Minute+time.Millisecond)
		require.Equal(t, len(srv.Objects("ClientUser")), len(again.Objects("ClientUser")))
		for i, o := range srv.Objects("ClientUser") {
			a := again.Objects("ClientUser")[i]
			require.Equal(t, o.ID, a.ID)
			require.Equal(t, o.Fields, a.Fields)
			require.Equal(t, o.Deleted, a.Deleted)
			require.Equal(t, 10*time.Minute, a.Changed.Sub(o.Changed), "the same change at the same moment of its run")
		}
		churnRun(t, other, time.Minute)
		require.NotEqual(t, srv.Objects("ClientUser")[0].ID, other.Objects("ClientUser")[0].ID)
	})
}

// TestChurnKinds: a churn limited to some kinds changes only those (and
// objects a creation needs), and an unknown kind is refused by name.
func TestChurnKinds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, err := emulator.New(emulator.Config{Churn: 600, ChurnKinds: []string{"Specialist", "Competence"}, Seed: 3, Location: msk})
		require.NoError(t, err)
		churnRun(t, srv, time.Minute+time.Millisecond)
		churned := srv.Stats().Churn
		require.Positive(t, churned["Specialist"].Created+churned["Specialist"].Edited+churned["Specialist"].Deleted)
		require.Positive(t, churned["Competence"].Created+churned["Competence"].Edited+churned["Competence"].Deleted)
		for _, kind := range []string{"ClientUser", "Client", "UserServiceLine"} {
			require.Zero(t, churned[kind].Edited+churned[kind].Deleted, kind)
		}
	})
	_, err := emulator.New(emulator.Config{Churn: 1, ChurnKinds: []string{"ClientUser", "Region"}})
	require.ErrorContains(t, err, `churn kind "Region" is not a kind the churn changes`)
}

// TestChurnReportsEachChange: Config.OnChurn receives every change the
// churn makes, in order, with the moment it was made and the object's row
// after it; the last change of each object is the store's state, and
// seeding reports nothing.
func TestChurnReportsEachChange(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var got []emulator.Change
		srv, err := emulator.New(emulator.Config{Churn: 600, Seed: 3, Location: msk,
			OnChurn: func(c emulator.Change) { got = append(got, c) }})
		require.NoError(t, err)
		_, err = srv.SeedObjects("ClientUser", 50)
		require.NoError(t, err)
		require.Empty(t, got, "seeding is not churn")
		start := time.Now()
		churnRun(t, srv, time.Minute+time.Millisecond)
		end := time.Now()

		counts := map[string]emulator.ChurnCounts{}
		last := map[string]emulator.Change{}
		for i, c := range got {
			require.False(t, c.At.Before(start) || c.At.After(end), "made during the run")
			if i > 0 {
				require.False(t, c.At.Before(got[i-1].At), "in the order made")
			}
			n := counts[c.Object]
			switch c.What {
			case "created":
				n.Created++
			case "edited":
				n.Edited++
			case "deleted":
				n.Deleted++
			default:
				t.Fatalf("change %d: what %q", i, c.What)
			}
			counts[c.Object] = n
			last[c.Object+" "+c.ID] = c
		}
		require.Equal(t, srv.Stats().Churn, counts, "one report per change counted")
		require.GreaterOrEqual(t, len(got), 600)

		checked := 0
		for _, op := range catalog.ChangeTracked() {
			for _, o := range srv.Objects(op.Object) {
				c, ok := last[op.Object+" "+o.ID]
				if !ok {
					continue // seeded, never changed
				}
				checked++
				require.Equal(t, o.Row, c.Row, "%s %s: the row after its last change", op.Object, o.ID)
				require.Equal(t, o.Deleted, c.What == "deleted", "%s %s", op.Object, o.ID)
				require.True(t, o.Changed.Equal(c.At.Truncate(time.Second)), "%s %s: stamped %s, made %s", op.Object, o.ID, o.Changed, c.At)
			}
		}
		require.Equal(t, len(last), checked, "every object reported is in the store")
	})
}

// TestChurnPace checks the rates at the edges: none, a fraction of one a
// minute, the most allowed, and one Run at a time.
func TestChurnPace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		churn    float64
		run      time.Duration
		min, max int // changes, partners created with them included
	}{
		{churn: 0, run: time.Hour, min: 0, max: 0},
		{churn: 0.5, run: 4*time.Minute + time.Millisecond, min: 2, max: 6},
		{churn: emulator.MaxChurn, run: 2*time.Second + time.Millisecond, min: 2000, max: 2200},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.churn), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv, err := emulator.New(emulator.Config{Churn: tt.churn, Seed: 1})
				require.NoError(t, err)
				churnRun(t, srv, tt.run)
				n := 0
				for _, c := range srv.Stats().Churn {
					n += c.Created + c.Edited + c.Deleted
				}
				require.GreaterOrEqual(t, n, tt.min)
				require.LessOrEqual(t, n, tt.max)
			})
		})
	}
	synctest.Test(t, func(t *testing.T) {
		srv, err := emulator.New(emulator.Config{Churn: 1})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		synctest.Wait()
		require.ErrorIs(t, srv.Run(ctx), emulator.ErrRunning)
		cancel()
		require.NoError(t, <-done)
	})
	for _, bad := range []float64{-1, emulator.MaxChurn + 1} {
		_, err := emulator.New(emulator.Config{Churn: bad})
		require.ErrorContains(t, err, "churn")
	}
}

// TestClockOffset checks that the offset moves the sandbox's whole clock:
// the Date header, change stamps, ChangedFrom and the limit windows.
func TestClockOffset(t *testing.T) {
	t.Parallel()
	const offset = 90 * time.Second
	b := setup(t, emulator.Config{ClockOffset: offset, Window: time.Minute, Limits: map[string]int{"DepartmentRead": 1}})
	sandbox := t0.Add(offset)

	resp, err := http.Get(b.ts.URL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, sandbox.UTC().Format(http.TimeFormat), resp.Header.Get("Date"), "Date is the sandbox's clock")

	added := b.mustCall(t, "DepartmentAdd", obj("Name", soap.String("Sales")))
	require.Equal(t, sandbox.UTC(), added.ServerTime, "and so is every SOAP answer's")
	id, _ := added.Data.Prop("DepartmentID")
	o, _ := b.srv.Get("Department", id.Text)
	require.Equal(t, sandbox, o.Changed, "change times are stamped by the shifted clock")

	// t0 by the caller's clock is before the change by the sandbox's.
	require.Len(t, rows(t, b.mustCall(t, "DepartmentRead", obj("ChangedFrom", soap.DateTime(sandbox)))), 1)
	_, err = b.call(t, "DepartmentRead", obj("ChangedFrom", soap.DateTime(sandbox)))
	require.ErrorIs(t, err, soap.ErrOutOfLimit, "one read per window")
	// Windows follow the sandbox's clock: at 10:30:20 by the caller's
	// clock the sandbox's is 10:31:50, still the window of the first read;
	// at 10:30:40, the caller's minute has not ended but the sandbox's has.
	b.clock.Advance(20 * time.Second)
	_, err = b.call(t, "DepartmentRead", obj())
	require.ErrorIs(t, err, soap.ErrOutOfLimit, "still the sandbox's window of 10:31")
	b.clock.Advance(20 * time.Second)
	b.mustCall(t, "DepartmentRead", obj())
}

// TestBigReadStreamed reads 100,000 client users, a change feed's first
// read, through CallRows: every row arrives, and the sandbox and the
// client together hold a fraction of what the answer's table takes. The
// store itself is about 150 MB, so the heap may hold as much garbage
// before a collection: what is measured is the live heap, collected at
// each sample. Not parallel: other tests' allocations would count.
func TestBigReadStreamed(t *testing.T) {
	b := setup(t, emulator.Config{})
	const users = 100_000
	b.srv.SeedClientUsers(users)
	c, err := soap.New(soap.Config{URL: b.url, User: "admin", Password: "admin"})
	require.NoError(t, err)
	defer c.Close()

	var ms runtime.MemStats
	live := func() uint64 {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := live()
	peak := base
	n := 0
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	resp, err := c.CallRows(ctx, &soap.Request{Op: "ClientUserRead", Params: obj()}, soap.RowsOptions{MaxResponseBytes: 1 << 30},
		func(cols []soap.Column, row []soap.Value) error {
			n++
			if n%10_000 == 0 {
				peak = max(peak, live())
			}
			return nil
		})
	require.NoError(t, err)
	require.Equal(t, users, n)
	require.Equal(t, "ClientUserID", resp.Data.Table.Columns[0].Name)
	grew := int64(peak) - int64(base)
	t.Logf("read %d client users in %v (with %d collections); the live heap grew by at most %.1f MB", users, time.Since(start), users/10_000, float64(grew)/(1<<20))
	// The answer is about 90 MB of XML and its table of 1.2 million cells
	// would take about 100 MB; the sandbox's snapshot is 100 bytes a user.
	require.Less(t, grew, int64(40<<20))
}
