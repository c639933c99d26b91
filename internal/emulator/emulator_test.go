package emulator_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/tariff"
)

func TestClientUserEditPacketOf100(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	ids := b.srv.SeedClientUsers(100)
	var in [][]soap.Value
	for i, id := range ids {
		in = append(in, userRow(id, fmt.Sprintf("Renamed %d", i)))
	}

	resp := b.mustCall(t, "ClientUserEdit", packet(userCols, in...))

	res, err := resp.Rows()
	require.NoError(t, err)
	require.Len(t, res, 100)
	for i, r := range res {
		require.Equal(t, soap.CodeSuccess, r.Code, "row %d: %v", i, r.Data.Text)
	}
	for i, id := range ids {
		o, ok := b.srv.Get("ClientUser", id)
		require.True(t, ok)
		require.Equal(t, fmt.Sprintf("Renamed %d", i), o.Fields["Name"].Text)
		require.Equal(t, 1, o.Edits, "user %d edited once", i)
		require.Equal(t, emulator.SeedClientID, o.Fields["ClientID"].Text, "fields not given are kept")
	}
	require.Equal(t, ids, b.srv.Applied("ClientUserEdit"))
	st := b.srv.Stats()
	require.Equal(t, 1, st.Calls["ClientUserEdit"])
	require.Equal(t, 100, st.Rows["ClientUserEdit"])
	require.Zero(t, st.RowErrors["ClientUserEdit"])
}

func TestPacketWithBadRows(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	ids := b.srv.SeedClientUsers(5)
	b.mustCall(t, "ClientUserDelete", obj("ClientUserID", soap.String(ids[4])))
	unknown := "00000000-0000-4000-8000-999999999999"
	in := [][]soap.Value{
		userRow(ids[0], "Good 0"),
		userRow(unknown, "Nobody"),
		userRow(ids[1], "Good 1"),
		userRow(ids[2], "A name of 21 letters!"),
		userRow("not-a-uuid", "Bad id"),
		userRow(ids[4], "Deleted"),
		userRow(ids[3], "Good 3"),
	}

	resp := b.mustCall(t, "ClientUserEdit", packet(userCols, in...))

	res, err := resp.Rows()
	require.NoError(t, err)
	want := []struct{ code, field string }{
		{soap.CodeSuccess, ""},
		{emulator.CodeObjectNotFound, "ClientUserID"},
		{soap.CodeSuccess, ""},
		{emulator.CodeInvalidParameter, "Name"},
		{emulator.CodeInvalidParameter, "ClientUserID"},
		{emulator.CodeObjectDeleted, "ClientUserID"},
		{soap.CodeSuccess, ""},
	}
	require.Len(t, res, len(want))
	for i, w := range want {
		require.Equal(t, w.code, res[i].Code, "row %d", i)
		if w.field != "" {
			require.Equal(t, soap.KindString, res[i].Data.Kind, "row %d", i)
			require.Contains(t, res[i].Data.Text, w.field, "row %d names the field", i)
		} else {
			require.Equal(t, "true", res[i].Data.Text, "row %d", i)
		}
	}
	for i, want := range map[int]string{0: "Good 0", 1: "Good 1", 2: "User 3", 3: "Good 3", 4: "User 5"} {
		o, ok := b.srv.Get("ClientUser", ids[i])
		require.True(t, ok)
		require.Equal(t, want, o.Fields["Name"].Text, "user %d", i)
	}
	require.Equal(t, []string{ids[0], ids[1], ids[3]}, b.srv.Applied("ClientUserEdit"))
	require.Equal(t, 4, b.srv.Stats().RowErrors["ClientUserEdit"])
}

func TestStructureWriteAnswersAtTopLevel(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	ids := b.srv.SeedClientUsers(1)

	resp := b.mustCall(t, "ClientUserEdit", userEdit(ids[0], "Solo"))
	require.Equal(t, soap.CodeSuccess, resp.Code)
	require.True(t, resp.Data.IsNil(), "a successful edit answers nil")

	_, err := b.call(t, "ClientUserEdit", userEdit("00000000-0000-4000-8000-999999999999", "Nobody"))
	var re *soap.ResultError
	require.ErrorAs(t, err, &re)
	require.Equal(t, emulator.CodeObjectNotFound, re.Code)
	require.Contains(t, re.Reason, "ClientUserID")

	_, err = b.call(t, "ClientUserEdit", obj("ClientUserID", soap.String(ids[0])))
	require.ErrorAs(t, err, &re)
	require.Equal(t, emulator.CodeInvalidParameter, re.Code)
	for _, field := range []string{"EMail", "Name", "Password", "Phone"} {
		require.Contains(t, re.Reason, field+": required")
	}

	add := b.mustCall(t, "ServiceRequestAdd", obj("Summary", soap.String("Printer")))
	id, ok := add.Data.Prop("ServiceRequestID")
	require.True(t, ok, "ServiceRequestAdd answers Structure{ServiceRequestID}")
	o, ok := b.srv.Get("ServiceRequest", id.Text)
	require.True(t, ok)
	require.Equal(t, "Printer", o.Fields["Summary"].Text)
}

func TestReadsWithChangedFrom(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})

	// Three departments at t0, then one edited and one deleted an hour
	// later: a read from then sees those two only.
	add := b.mustCall(t, "DepartmentAdd", packet([]string{"Name"},
		[]soap.Value{soap.String("Sales")}, []soap.Value{soap.String("Support")}, []soap.Value{soap.String("Accounts")}))
	res, err := add.Rows()
	require.NoError(t, err)
	var dept []string
	for _, r := range res {
		require.Equal(t, soap.CodeSuccess, r.Code)
		id, ok := r.Data.Prop("DepartmentID")
		require.True(t, ok, "an Add row answers Structure{DepartmentID}")
		dept = append(dept, id.Text)
	}
	b.clock.Advance(time.Hour)
	t1 := b.clock.Now()
	require.True(t, b.mustCall(t, "DepartmentEdit", obj("DepartmentID", soap.String(dept[0]), "Name", soap.String("Sales EU"))).Data.IsNil())
	require.True(t, b.mustCall(t, "DepartmentDelete", obj("DepartmentID", soap.String(dept[1]))).Data.IsNil())

	since := b.mustCall(t, "DepartmentRead", obj("ChangedFrom", soap.DateTime(t1)))
	require.Equal(t, []string{"DepartmentID", "Name", "Deleted"}, columns(t, since))
	require.Equal(t, []map[string]any{
		{"DepartmentID": dept[0], "Name": "Sales EU", "Deleted": false},
		{"DepartmentID": dept[1], "Name": "Support", "Deleted": true},
	}, rows(t, since))
	require.Equal(t, []string{"xs:string", "Null"}, since.Data.Table.Columns[0].Type.Types, "ids are xs:string or Null, as recorded")

	later := b.mustCall(t, "DepartmentRead", obj("ChangedFrom", soap.DateTime(t1.Add(time.Second))))
	require.Equal(t, []string{"DepartmentID", "Name", "Deleted"}, columns(t, later), "no rows still lists the columns")
	require.Empty(t, rows(t, later))

	all := b.mustCall(t, "DepartmentRead", obj())
	require.Len(t, rows(t, all), 3, "without ChangedFrom every department, the deleted one included")

	// Client users: ChangedFrom and the ClientID filter.
	b.clock.Advance(time.Hour)
	users := b.srv.SeedClientUsers(3)
	other, err := b.srv.Put("ClientUser", "", map[string]soap.Value{
		"ClientID": soap.String("00000000-0000-4000-9000-000000000002"), "Name": soap.String("Other"),
	})
	require.NoError(t, err)
	b.clock.Advance(time.Minute)
	t2 := b.clock.Now()
	b.mustCall(t, "ClientUserEdit", userEdit(users[0], "Edited"))
	b.mustCall(t, "ClientUserDelete", obj("ClientUserID", soap.String(users[1])))

	read := b.mustCall(t, "ClientUserRead", obj("ChangedFrom", soap.DateTime(t2), "ClientID", soap.String(emulator.SeedClientID)))
	got := rows(t, read)
	require.Len(t, got, 2)
	require.Equal(t, users[0], got[0]["ClientUserID"])
	require.Equal(t, "Edited", got[0]["Name"])
	require.Equal(t, false, got[0]["Deleted"])
	require.Equal(t, users[1], got[1]["ClientUserID"])
	require.Equal(t, true, got[1]["Deleted"])
	require.NotContains(t, columns(t, read), "Password", "a read never answers passwords")

	byClient := b.mustCall(t, "ClientUserRead", obj("ClientID", soap.String("00000000-0000-4000-9000-000000000002")))
	require.Len(t, rows(t, byClient), 1)
	require.Equal(t, other, rows(t, byClient)[0]["ClientUserID"])

	// Specialists: the recorded columns, CreatedAt in the account's zone.
	spec := b.mustCall(t, "SpecialistAdd", obj("Name", soap.String("Anna"), "Birthday", soap.Date(time.Date(1990, 5, 17, 0, 0, 0, 0, msk))))
	sid, _ := spec.Data.Prop("SpecialistID")
	specs := b.mustCall(t, "SpecialistRead", obj("ChangedFrom", soap.DateTime(t2)))
	op, _ := catalog.Lookup("SpecialistRead")
	require.Equal(t, op.Results, columns(t, specs))
	got = rows(t, specs)
	require.Len(t, got, 1)
	require.Equal(t, sid.Text, got[0]["SpecialistID"])
	require.Equal(t, t2.Format(soap.DateTimeLayout), got[0]["CreatedAt"])
	require.Equal(t, "1990-05-17T00:00:00", got[0]["Birthday"])
	require.Nil(t, got[0]["DepartmentID"], "no department: Null")
	require.IsType(t, int64(0), got[0]["Login"])
}

func TestHourlyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{Limits: map[string]int{"ClientUserEdit": 3}})
	id := b.srv.SeedClientUsers(1)[0]
	edit := func(name string) error {
		_, err := b.call(t, "ClientUserEdit", userEdit(id, name))
		return err
	}

	for i := range 3 {
		require.NoError(t, edit(fmt.Sprint("Call ", i)))
	}
	err := edit("Over")
	require.ErrorIs(t, err, soap.ErrOutOfLimit)
	var re *soap.ResultError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "limit reached", re.Reason)
	require.False(t, soap.MayHaveBeenProcessed(err))
	o, _ := b.srv.Get("ClientUser", id)
	require.Equal(t, 3, o.Edits, "an OUT_OF_LIMIT call processes nothing")

	// Windows are clock hours: 10:59 is still the same window, 11:00 is
	// a new one.
	b.clock.Advance(29 * time.Minute)
	require.ErrorIs(t, edit("Still over"), soap.ErrOutOfLimit)
	b.clock.Advance(time.Minute)
	require.NoError(t, edit("Next hour"))
	o, _ = b.srv.Get("ClientUser", id)
	require.Equal(t, 4, o.Edits)
	require.Equal(t, "Next hour", o.Fields["Name"].Text)

	st := b.srv.Stats()
	require.Equal(t, 6, st.Calls["ClientUserEdit"], "OUT_OF_LIMIT calls are calls")
	require.Equal(t, 2, st.OutOfLimit["ClientUserEdit"])
	require.Equal(t, 3, st.MaxCallsInWindow["ClientUserEdit"])

	// /stats serves the same numbers.
	httpResp, err := http.Get(b.ts.URL + "/stats")
	require.NoError(t, err)
	defer httpResp.Body.Close()
	require.Equal(t, http.StatusOK, httpResp.StatusCode)
	var js map[string]any
	require.NoError(t, json.NewDecoder(httpResp.Body).Decode(&js))
	require.Equal(t, map[string]any{"ClientUserEdit": 3.0}, js["max_calls_in_window"])
	require.Equal(t, map[string]any{"ClientUserEdit": 2.0}, js["out_of_limit"])
	require.Equal(t, map[string]any{"ClientUserEdit": 6.0}, js["calls"])
	require.Equal(t, map[string]any{"ClientUserEdit": 4.0}, js["rows"])
}

func TestLimitSettings(t *testing.T) {
	t.Parallel()
	night := tariff.Night{From: 0, To: 6}
	tests := []struct {
		name string
		cfg  emulator.Config
		at   time.Time
		set  map[string]int // SetLimit calls, in any order
		op   string
		want int
	}{
		{name: "catalogue day limit", at: t0, op: "ClientUserEdit", want: 250},
		{name: "no night configured: day limit at 2 am", at: time.Date(2024, 2, 27, 2, 0, 0, 0, msk), op: "ClientUserEdit", want: 250},
		{name: "catalogue night limit", cfg: emulator.Config{Night: night}, at: time.Date(2024, 2, 27, 2, 0, 0, 0, msk), op: "ClientUserEdit", want: 1250},
		{name: "night ends at 6", cfg: emulator.Config{Night: night}, at: time.Date(2024, 2, 27, 6, 0, 0, 0, msk), op: "ClientUserEdit", want: 250},
		{name: "night hour read in the account zone", cfg: emulator.Config{Night: night}, at: time.Date(2024, 2, 26, 23, 30, 0, 0, time.UTC), op: "ClientUserEdit", want: 1250},
		{name: "star sets every operation", cfg: emulator.Config{Limits: map[string]int{"*": 7}}, at: t0, op: "ClientRead", want: 7},
		{name: "own setting beats star", cfg: emulator.Config{Limits: map[string]int{"*": 7, "ClientRead": 2}}, at: t0, op: "ClientRead", want: 2},
		{name: "runtime setting", cfg: emulator.Config{Limits: map[string]int{"*": 7}}, at: t0, set: map[string]int{"ClientRead": 1}, op: "ClientRead", want: 1},
		{name: "runtime setting removed", cfg: emulator.Config{Limits: map[string]int{"*": 7}}, at: t0, set: map[string]int{"ClientRead": -1}, op: "ClientRead", want: 7},
		{name: "runtime star under config own", cfg: emulator.Config{Limits: map[string]int{"ClientRead": 2}}, at: t0, set: map[string]int{"*": 9}, op: "ClientRead", want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.Location = msk
			cfg.Now = func() time.Time { return tt.at }
			srv, err := emulator.New(cfg)
			require.NoError(t, err)
			for op, n := range tt.set {
				require.NoError(t, srv.SetLimit(op, n))
			}
			got, err := srv.Limit(tt.op)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestLimitZeroRefusesEverything(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	require.NoError(t, b.srv.SetLimit("RegionRead", 0))
	_, err := b.call(t, "RegionRead", obj())
	require.ErrorIs(t, err, soap.ErrOutOfLimit)
	require.Error(t, b.srv.SetLimit("NoSuchOperation", 1))
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{Password: "s3cret"})
	bad := b.newClient(t, soap.SOAP11, "admin", "admin")

	_, err := callWith(t, bad, &soap.Request{Op: "RegionRead", Params: obj()})
	var ae *soap.AuthError
	require.ErrorAs(t, err, &ae)
	require.ErrorIs(t, err, soap.ErrUnauthorized)
	require.Equal(t, http.StatusUnauthorized, ae.StatusCode)

	good := b.newClient(t, soap.SOAP11, "admin", "s3cret")
	_, err = callWith(t, good, &soap.Request{Op: "RegionRead", Params: obj()})
	require.NoError(t, err)

	resp, err := http.Post(b.url, "text/xml", strings.NewReader("<x/>"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")

	st := b.srv.Stats()
	require.Equal(t, 2, st.Unauthorized)
	require.Equal(t, 1, st.Calls["RegionRead"], "refused credentials are not calls")
}

func TestInjectedFailure(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{FailRate: 1})
	id := b.srv.SeedClientUsers(1)[0]

	_, err := b.call(t, "ClientUserEdit", userEdit(id, "Never"))
	var he *soap.HTTPError
	require.ErrorAs(t, err, &he)
	require.Equal(t, http.StatusInternalServerError, he.StatusCode)
	// The sandbox applied nothing, but a client cannot know that: a 500
	// without a SOAP fault may come after the service applied the packet.
	require.True(t, soap.MayHaveBeenProcessed(err))

	o, _ := b.srv.Get("ClientUser", id)
	require.Equal(t, "User 1", o.Fields["Name"].Text)
	require.Zero(t, o.Edits)
	st := b.srv.Stats()
	require.Equal(t, 1, st.FailedInjected)
	require.Zero(t, st.Calls["ClientUserEdit"], "an injected failure is not counted against the limit")
}

func TestDroppedConnection(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{DropRate: 1})
	id := b.srv.SeedClientUsers(1)[0]

	_, err := b.call(t, "ClientUserEdit", userEdit(id, "Applied"))
	var te *soap.TransportError
	require.ErrorAs(t, err, &te)
	require.True(t, te.Sent)
	require.True(t, soap.MayHaveBeenProcessed(err))

	o, _ := b.srv.Get("ClientUser", id)
	require.Equal(t, "Applied", o.Fields["Name"].Text, "the call was processed before the cut")
	require.Equal(t, 1, o.Edits)
	st := b.srv.Stats()
	require.Equal(t, 1, st.Dropped)
	require.Equal(t, 1, st.Calls["ClientUserEdit"])
	require.Equal(t, 1, st.MaxCallsInWindow["ClientUserEdit"])
}

func TestSOAPVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		answer   emulator.AnswerVersion
		request  soap.Version
		wantType string
		wantNS   string
	}{
		{"1.1 request, real service answers 1.2", emulator.AnswerSOAP12, soap.SOAP11, "application/soap+xml;charset=utf-8", soap.NamespaceSOAP12},
		{"1.2 request, 1.2 answer", emulator.AnswerSOAP12, soap.SOAP12, "application/soap+xml;charset=utf-8", soap.NamespaceSOAP12},
		{"1.1 request answered as asked", emulator.AnswerAsRequest, soap.SOAP11, "text/xml;charset=utf-8", soap.NamespaceSOAP11},
		{"1.2 request answered as asked", emulator.AnswerAsRequest, soap.SOAP12, "application/soap+xml;charset=utf-8", soap.NamespaceSOAP12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, emulator.Config{AnswerVersion: tt.answer})

			// Through the client: the call works.
			c := b.newClient(t, tt.request, "admin", "admin")
			resp, err := callWith(t, c, &soap.Request{Op: "RegionRead", Params: obj()})
			require.NoError(t, err)
			require.Equal(t, []string{"RegionID", "RegionName"}, columns(t, resp))
			require.NotEmpty(t, rows(t, resp))

			// On the wire: the envelope and Content-Type.
			var body strings.Builder
			require.NoError(t, soap.EncodeRequest(&body, tt.request, &soap.Request{Op: "RegionRead", Params: obj()}))
			req, err := http.NewRequest(http.MethodPost, b.url, strings.NewReader(body.String()))
			require.NoError(t, err)
			req.SetBasicAuth("admin", "admin")
			req.Header.Set("Content-Type", tt.request.ContentType(soap.Action("RegionRead")))
			// The action goes in the header only for 1.1, and dispatch is
			// on the body: a wrong SOAPAction changes nothing.
			req.Header.Set("SOAPAction", soap.Action("ClientRead"))
			hr, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer hr.Body.Close()
			require.Equal(t, http.StatusOK, hr.StatusCode)
			require.Equal(t, tt.wantType, hr.Header.Get("Content-Type"))
			raw, err := io.ReadAll(hr.Body)
			require.NoError(t, err)
			require.Contains(t, string(raw), `xmlns:soap="`+tt.wantNS+`"`)
			require.Contains(t, string(raw), "RegionReadResponse")
		})
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})

	_, err := b.call(t, "NoSuchOperation", obj())
	var fe *soap.FaultError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, http.StatusInternalServerError, fe.StatusCode)
	require.Contains(t, fe.Reason, "NoSuchOperation")

	_, err = b.plain(t, "ClientRead", "ChangedFrom", "2024-01-01T00:00:00")
	require.ErrorAs(t, err, &fe, "an operation of Params given plain children")

	tests := []struct {
		name, body, want string
	}{
		{"malformed XML", `<soap:Envelope xmlns:soap="` + soap.NamespaceSOAP11 + `"><soap:Body><m:RegionRead`, "malformed"},
		{"not an envelope", `<html/>`, "malformed"},
		{"wrong namespace", `<soap:Envelope xmlns:soap="` + soap.NamespaceSOAP11 + `"><soap:Body><m:RegionRead xmlns:m="http://example.com/other"><m:Params/></m:RegionRead></soap:Body></soap:Envelope>`, "namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, b.url, strings.NewReader(tt.body))
			require.NoError(t, err)
			req.SetBasicAuth("admin", "admin")
			req.Header.Set("Content-Type", "text/xml; charset=utf-8")
			hr, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer hr.Body.Close()
			require.Equal(t, http.StatusInternalServerError, hr.StatusCode)
			_, err = soap.DecodeResponse(hr.Body, soap.Limits{})
			require.ErrorAs(t, err, &fe)
			require.Contains(t, fe.Reason, tt.want)
		})
	}
	st := b.srv.Stats()
	require.Equal(t, 5, st.Faults)
	require.Empty(t, st.Calls, "a fault is not a call")
}

func TestWSDL(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	get := func(user string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, b.url+"?wsdl", nil)
		require.NoError(t, err)
		req.SetBasicAuth(user, "admin")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	require.Equal(t, http.StatusUnauthorized, get("nobody").StatusCode)

	resp := get("admin")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var doc struct {
		PortType struct {
			Operations []struct {
				Name string `xml:"name,attr"`
			} `xml:"operation"`
		} `xml:"portType"`
		Service struct {
			Ports []struct {
				Address struct {
					Location string `xml:"location,attr"`
				} `xml:"address"`
			} `xml:"port"`
		} `xml:"service"`
	}
	require.NoError(t, xml.NewDecoder(resp.Body).Decode(&doc))
	require.Len(t, doc.PortType.Operations, 87)
	require.NotEmpty(t, doc.Service.Ports)
	for _, p := range doc.Service.Ports {
		require.Equal(t, b.url, p.Address.Location, "the WSDL points at the endpoint it was fetched from")
	}
}

func TestPacketLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		limit  int
		rows   int
		refuse bool
	}{
		{name: "configured limit", limit: 2, rows: 3, refuse: true},
		{name: "at the configured limit", limit: 2, rows: 2},
		{name: "catalogue MaxRows", rows: 101, refuse: true},
		{name: "at catalogue MaxRows", rows: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, emulator.Config{PacketLimit: tt.limit})
			ids := b.srv.SeedClientUsers(tt.rows)
			var in [][]soap.Value
			for _, id := range ids {
				in = append(in, userRow(id, "Packed"))
			}

			resp, err := b.call(t, "ClientUserEdit", packet(userCols, in...))

			edited := 0
			for _, id := range ids {
				o, _ := b.srv.Get("ClientUser", id)
				edited += o.Edits
			}
			if !tt.refuse {
				require.NoError(t, err)
				require.Equal(t, tt.rows, edited)
				return
			}
			var re *soap.ResultError
			require.ErrorAs(t, err, &re)
			require.Equal(t, emulator.CodePacketTooLarge, re.Code)
			require.Equal(t, emulator.CodePacketTooLarge, resp.Code)
			require.Zero(t, edited, "a refused packet processes nothing")
			st := b.srv.Stats()
			require.Equal(t, 1, st.Calls["ClientUserEdit"], "a refused packet still counts as a call")
			require.Zero(t, st.Rows["ClientUserEdit"])
		})
	}
}

func TestServiceRequestMessagesAndFiles(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	author := "00000000-0000-4000-8000-000000000001"
	add := b.mustCall(t, "ServiceRequestAdd", obj("Summary", soap.String("Cannot log in")))
	req, _ := add.Data.Prop("ServiceRequestID")
	sr := req.Text
	msgID := func(resp *soap.Response, err error) string {
		t.Helper()
		require.NoError(t, err)
		id, ok := resp.Data.Prop("MessageID")
		require.True(t, ok)
		return id.Text
	}

	m1 := msgID(b.plain(t, "ServiceRequestSendTextMessage", "ServiceRequestID", sr, "AuthorID", author, "Message", "Hello"))
	m2 := msgID(b.plain(t, "ServiceRequestSendTextMessage", "ServiceRequestID", sr, "AuthorID", author, "Message", "Anyone?"))
	list, err := b.plain(t, "ServiceRequestMessages", "ServiceRequestID", sr)
	require.NoError(t, err)
	got := rows(t, list)
	require.Len(t, got, 2)
	require.Equal(t, []any{m1, m2}, []any{got[0]["MessageID"], got[1]["MessageID"]})
	require.Equal(t, "Hello", got[0]["Message"])

	resp, err := b.plain(t, "ServiceRequestEditTextMessage", "ServiceRequestID", sr, "MessageID", m1, "Message", "Hello!")
	require.NoError(t, err)
	require.True(t, resp.Data.IsNil())
	_, err = b.plain(t, "ServiceRequestDeleteTextMessage", "ServiceRequestID", sr, "MessageID", m2)
	require.NoError(t, err)
	list, err = b.plain(t, "ServiceRequestMessages", "ServiceRequestID", sr)
	require.NoError(t, err)
	require.Equal(t, []map[string]any{{"MessageID": m1, "AuthorID": author, "Message": "Hello!", "CreateTime": t0.Format(soap.DateTimeLayout)}}, rows(t, list))

	data := base64.StdEncoding.EncodeToString([]byte("hello"))
	resp, err = b.plain(t, "ServiceRequestAttachFile", "ServiceRequestID", sr, "AuthorID", author, "Name", "hello.txt", "Hash", "5d41402abc4b2a76b9719d911017c592", "Data", data)
	require.NoError(t, err)
	fileID, ok := resp.Data.Prop("FileID")
	require.True(t, ok)
	files, err := b.plain(t, "ServiceRequestFiles", "ServiceRequestID", sr)
	require.NoError(t, err)
	got = rows(t, files)
	require.Len(t, got, 1)
	require.Equal(t, "hello.txt", got[0]["Name"])
	require.Equal(t, int64(5), got[0]["Size"])
	down, err := b.plain(t, "ServiceRequestDownloadFile", "FileID", fileID.Text)
	require.NoError(t, err)
	require.Equal(t, []soap.Property{{Name: "fileData", Value: soap.String(data)}}, down.Extra)
	_, err = b.plain(t, "ServiceRequestDeleteFile", "FileID", fileID.Text, "AuthorID", author)
	require.NoError(t, err)
	files, err = b.plain(t, "ServiceRequestFiles", "ServiceRequestID", sr)
	require.NoError(t, err)
	require.Empty(t, rows(t, files))
	require.Equal(t, []string{"FileID", "AuthorID", "Name", "Hash", "Size", "CreateTime"}, columns(t, files))

	var re *soap.ResultError
	_, err = b.plain(t, "ServiceRequestSendTextMessage", "ServiceRequestID", "no-such-request", "AuthorID", author, "Message", "Hi")
	require.ErrorAs(t, err, &re)
	require.Equal(t, emulator.CodeObjectNotFound, re.Code)
	_, err = b.plain(t, "ServiceRequestSendTextMessage", "ServiceRequestID", sr, "AuthorID", author)
	require.ErrorAs(t, err, &re)
	require.Equal(t, emulator.CodeInvalidParameter, re.Code)
	require.Contains(t, re.Reason, "Message: required")
	_, err = b.plain(t, "ServiceRequestDownloadFile", "FileID", fileID.Text)
	require.ErrorAs(t, err, &re)
	require.Equal(t, emulator.CodeObjectDeleted, re.Code)
}

func TestAssociationsAndValues(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	spec, line := "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
	comp := obj("SpecialistID", soap.String(spec), "ServiceID", soap.String(line), "Priority", soap.Int(1))

	added := b.mustCall(t, "CompetenceAdd", comp)
	require.Equal(t, obj("SpecialistID", soap.String(spec), "ServiceID", soap.String(line)), added.Data)
	_, err := b.call(t, "CompetenceAdd", comp)
	var re *soap.ResultError
	require.ErrorAs(t, err, &re)
	require.Equal(t, emulator.CodeObjectExists, re.Code)
	o, ok := b.srv.Get("Competence", spec+"/"+line)
	require.True(t, ok)
	require.Equal(t, soap.Int(1), o.Fields["Priority"])

	// A parameter's value is set, not added: Edit creates it.
	client, param := emulator.SeedClientID, "00000000-0000-4000-8000-00000000000c"
	b.mustCall(t, "ClientAdditionalParameterValueEdit", packet([]string{"ClientParameterID", "ClientID", "Value", "Color"},
		[]soap.Value{soap.String(param), soap.String(client), soap.String("Gold"), soap.String("RED")}))
	values := b.mustCall(t, "ClientAdditionalParameterValueRead", obj())
	require.Equal(t, []map[string]any{{"ClientParameterID": param, "ClientID": client, "Value": "Gold", "Color": "RED"}}, rows(t, values))

	// A line connection keeps the recorded columns, then Deleted, which
	// every change-tracked read answers.
	conn := obj("ServiceUserID", soap.String(client), "ServiceID", soap.String(line))
	b.mustCall(t, "UserServiceLineAdd", conn)
	b.clock.Advance(time.Hour)
	deletedAt := b.clock.Now()
	b.mustCall(t, "UserServiceLineDelete", conn)
	lines := b.mustCall(t, "UserServiceLineRead", obj("ChangedFrom", soap.DateTime(deletedAt)))
	require.Equal(t, []map[string]any{{
		"ServiceUserID": client, "ServiceID": line, "CreateTime": t0.Format(soap.DateTimeLayout),
		"ActivateDate": "0001-01-01T00:00:00", "ExpiresDate": "0001-01-01T00:00:00", "Deleted": true,
	}}, rows(t, lines))
	_, err = b.call(t, "UserServiceLineDelete", conn)
	require.ErrorAs(t, err, &re)
	require.Equal(t, emulator.CodeObjectDeleted, re.Code)
}

func TestEveryOperationAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	ops := catalog.All()
	require.Len(t, ops, 87)
	for _, op := range ops {
		req := &soap.Request{Op: op.Name, Params: obj()}
		if op.Kind == catalog.Plain {
			req = &soap.Request{Op: op.Name, Children: []soap.Property{}}
		}
		resp, err := callWith(t, b.client, req)
		if err != nil {
			// Empty input may lack a required field; nothing else fails.
			var re *soap.ResultError
			require.ErrorAs(t, err, &re, op.Name)
			require.Equal(t, emulator.CodeInvalidParameter, re.Code, op.Name)
			require.Contains(t, re.Reason, "required", op.Name)
			continue
		}
		require.Equal(t, soap.CodeSuccess, resp.Code, op.Name)
		if op.Results != nil {
			got := columns(t, resp)
			if _, ok := op.ChangeTracked(); ok && !slices.Contains(op.Results, catalog.ColumnDeleted) {
				// UserServiceLineRead: Deleted follows the recorded columns.
				require.Equal(t, catalog.ColumnDeleted, got[len(got)-1], op.Name)
				got = got[:len(got)-1]
			}
			require.Equal(t, op.Results, got, "%s answers the recorded columns", op.Name)
		}
		if op.Kind == catalog.Read || op.Kind == catalog.ChangeRead {
			require.Equal(t, soap.KindTable, resp.Data.Kind, op.Name)
		}
	}
	require.Len(t, b.srv.Stats().Calls, 87)
}

func TestConcurrentPacketsApplyOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	const workers, per = 8, 25
	ids := b.srv.SeedClientUsers(workers * per)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			var in [][]soap.Value
			for _, id := range ids[w*per : (w+1)*per] {
				in = append(in, userRow(id, fmt.Sprint("Worker ", w)))
			}
			_, err := callWith(t, b.client, &soap.Request{Op: "ClientUserEdit", Params: packet(userCols, in...)})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i, id := range ids {
		o, _ := b.srv.Get("ClientUser", id)
		require.Equal(t, 1, o.Edits)
		require.Equal(t, fmt.Sprint("Worker ", i/per), o.Fields["Name"].Text)
	}
	applied := b.srv.Applied("ClientUserEdit")
	require.Len(t, applied, workers*per)
	slices.Sort(applied)
	require.Equal(t, workers*per, len(slices.Compact(applied)), "no edit applied twice")
}

func TestLatency(t *testing.T) {
	t.Parallel()
	const latency = 30 * time.Millisecond
	b := setup(t, emulator.Config{LatencyMin: latency, LatencyMax: latency})
	start := time.Now()
	_, err := b.call(t, "RegionRead", obj())
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), latency)
}

func TestLatencyGivesUpWhenTheClientLeaves(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{LatencyMin: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := b.client.Call(ctx, &soap.Request{Op: "RegionRead", Params: obj()})
		done <- err
	}()
	// The call is counted before the latency: wait for that, then leave.
	require.Eventually(t, func() bool { return b.srv.Stats().Calls["RegionRead"] == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("the call did not end when its context was cancelled")
	}
	// Closing the server waits for its handlers: it returns only because
	// the handler stopped waiting.
	closed := make(chan struct{})
	go func() { b.ts.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler kept waiting after the client left")
	}
}

func TestSeedClientUsersAndUUIDs(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	require.Equal(t, []string{"00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"}, b.srv.SeedClientUsers(2))
	require.Equal(t, []string{"00000000-0000-4000-8000-000000000003"}, b.srv.SeedClientUsers(1))
	c, ok := b.srv.Get("Client", emulator.SeedClientID)
	require.True(t, ok)
	require.False(t, c.Deleted)

	// Equal seeds give equal new ids.
	other := setup(t, emulator.Config{})
	id1 := b.mustCall(t, "ClientAdd", obj("Name", soap.String("Acme")))
	id2 := other.mustCall(t, "ClientAdd", obj("Name", soap.String("Acme")))
	require.Equal(t, id1.Data, id2.Data)
	cid, _ := id1.Data.Prop("ClientID")
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, cid.Text)

	_, err := b.srv.Put("NoSuchKind", "", nil)
	require.Error(t, err)
	_, err = b.srv.Put("Competence", "", nil)
	require.Error(t, err, "an association needs its id")
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  emulator.Config
		want string
	}{
		{"unknown operation limit", emulator.Config{Limits: map[string]int{"ClientUserEditt": 1}}, "ClientUserEditt"},
		{"negative limit", emulator.Config{Limits: map[string]int{"*": -1}}, "negative limit"},
		{"fail rate above 1", emulator.Config{FailRate: 1.5}, "fail rate"},
		{"drop rate below 0", emulator.Config{DropRate: -0.1}, "drop rate"},
		{"night hour 25", emulator.Config{Night: tariff.Night{From: 25, To: 3}}, "night"},
		{"window under a second", emulator.Config{Window: time.Millisecond}, "window"},
		{"negative latency", emulator.Config{LatencyMin: -time.Second}, "latency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := emulator.New(tt.cfg)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	resp, err := http.Get(b.ts.URL + "/healthz")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestBodyCap(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{MaxBodyBytes: 512})
	ids := b.srv.SeedClientUsers(20)
	var in [][]soap.Value
	for _, id := range ids {
		in = append(in, userRow(id, "Too much"))
	}
	_, err := b.call(t, "ClientUserEdit", packet(userCols, in...))
	var he *soap.HTTPError
	require.ErrorAs(t, err, &he)
	require.Equal(t, http.StatusRequestEntityTooLarge, he.StatusCode)
	require.Empty(t, b.srv.Stats().Calls, "an oversized body never reaches an operation")
}
