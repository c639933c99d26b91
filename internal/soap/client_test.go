package soap_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// server answers every call with handler and counts new connections.
func server(t *testing.T, handler http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func client(t *testing.T, url string, v soap.Version) *soap.Client {
	t.Helper()
	c, err := soap.New(soap.Config{URL: url, User: "admin", Password: "s3cret-pass", Version: v, MaxResponseBytes: 1 << 16})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func editRequest() *soap.Request {
	return &soap.Request{Op: "ClientUserEdit", Params: soap.Struct(soap.Property{Name: "ClientUserID", Value: soap.String("u1")})}
}

// answer writes resp in version v.
func answer(w http.ResponseWriter, v soap.Version, resp *soap.Response) {
	w.Header().Set("Content-Type", "application/soap+xml;charset=utf-8")
	_ = soap.EncodeResponse(w, v, resp)
}

func TestClientSendsHeadersAndReusesConnections(t *testing.T) {
	for _, v := range []soap.Version{soap.SOAP11, soap.SOAP12} {
		t.Run(v.String(), func(t *testing.T) {
			var got atomic.Value
			srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) {
				user, pass, _ := r.BasicAuth()
				_, req, err := soap.DecodeRequest(r.Body, soap.Limits{})
				if err != nil {
					http.Error(w, err.Error(), 400)
					return
				}
				got.Store([]string{user, pass, r.Header.Get("SOAPAction"), r.Header.Get("Content-Type"), req.Op})
				// The real service answers in SOAP 1.2 whatever it was asked in.
				answer(w, soap.SOAP12, &soap.Response{Op: req.Op, Code: "SUCCESS"})
			})
			c := client(t, srv.URL, v)
			for range 5 {
				resp, err := c.Call(context.Background(), editRequest())
				require.NoError(t, err)
				require.Equal(t, "SUCCESS", resp.Code)
				require.True(t, resp.Data.IsNil())
			}
			h := got.Load().([]string)
			require.Equal(t, "admin", h[0])
			require.Equal(t, "s3cret-pass", h[1])
			action := "http://buhphone.com/PartnerWebAPI2#PartnerWebAPI2:ClientUserEdit"
			if v == soap.SOAP11 {
				require.Equal(t, `"`+action+`"`, h[2])
				require.Equal(t, "text/xml; charset=utf-8", h[3])
			} else {
				require.Empty(t, h[2])
				require.Equal(t, `application/soap+xml; charset=utf-8; action="`+action+`"`, h[3])
			}
			require.Equal(t, "ClientUserEdit", h[4])
			require.EqualValues(t, 1, conns.Load(), "five sequential calls use one connection")
		})
	}
}

func TestClientTypedErrors(t *testing.T) {
	cases := []struct {
		name      string
		handler   http.HandlerFunc
		check     func(t *testing.T, err error)
		processed bool
	}{
		{
			name:    "401",
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusUnauthorized) },
			check: func(t *testing.T, err error) {
				var ae *soap.AuthError
				require.ErrorAs(t, err, &ae)
				require.Equal(t, 401, ae.StatusCode)
				require.ErrorIs(t, err, soap.ErrUnauthorized)
			},
		},
		{
			name:    "403",
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusForbidden) },
			check:   func(t *testing.T, err error) { require.ErrorIs(t, err, soap.ErrUnauthorized) },
		},
		{
			name: "fault",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(500)
				_ = soap.EncodeFault(w, soap.SOAP12, "Receiver", "Ошибка при вызове метода")
			},
			check: func(t *testing.T, err error) {
				var fe *soap.FaultError
				require.ErrorAs(t, err, &fe)
				require.Equal(t, 500, fe.StatusCode)
				require.Equal(t, "ClientUserEdit", fe.Op)
				require.Equal(t, "Ошибка при вызове метода", fe.Reason)
			},
		},
		{
			// The service (or a proxy) failed at a moment nobody can tell:
			// perhaps after it ran the call.
			name:      "500 without a SOAP Fault",
			handler:   func(w http.ResponseWriter, r *http.Request) { http.Error(w, "<html>Internal error</html>", 500) },
			processed: true,
			check: func(t *testing.T, err error) {
				var he *soap.HTTPError
				require.ErrorAs(t, err, &he)
				require.Equal(t, 500, he.StatusCode)
				require.Equal(t, "<html>Internal error</html>\n", he.Body)
			},
		},
		{
			name: "500 with a well-formed answer that is not a Fault",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(500)
				_ = soap.EncodeResponse(w, soap.SOAP12, &soap.Response{Op: "ClientUserEdit", Code: "SUCCESS"})
			},
			processed: true,
			check: func(t *testing.T, err error) {
				var he *soap.HTTPError
				require.ErrorAs(t, err, &he)
				require.Equal(t, 500, he.StatusCode)
			},
		},
		{
			name:    "503: refused before running",
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", 503) },
			check: func(t *testing.T, err error) {
				var he *soap.HTTPError
				require.ErrorAs(t, err, &he)
				require.Equal(t, 503, he.StatusCode)
			},
		},
		{
			name:    "429: refused before running",
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "slow down", 429) },
			check: func(t *testing.T, err error) {
				var he *soap.HTTPError
				require.ErrorAs(t, err, &he)
				require.Equal(t, 429, he.StatusCode)
			},
		},
		{
			name:      "504 from a gateway",
			handler:   func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gateway timeout", 504) },
			processed: true,
			check: func(t *testing.T, err error) {
				var he *soap.HTTPError
				require.ErrorAs(t, err, &he)
			},
		},
		{
			name:      "malformed answer",
			handler:   func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<soap:Envelope") },
			processed: true,
			check: func(t *testing.T, err error) {
				var de *soap.DecodeError
				require.ErrorAs(t, err, &de)
				require.Equal(t, "ClientUserEdit", de.Op)
			},
		},
		{
			name: "answer larger than the cap",
			handler: func(w http.ResponseWriter, r *http.Request) {
				answer(w, soap.SOAP12, &soap.Response{Op: "ClientUserEdit", Code: "SUCCESS", Data: soap.String(strings.Repeat("x", 1<<17))})
			},
			processed: true,
			check:     func(t *testing.T, err error) { require.ErrorIs(t, err, soap.ErrResponseTooLarge) },
		},
		{
			name: "connection cut in the middle of the answer",
			handler: func(w http.ResponseWriter, r *http.Request) {
				rec := httptest.NewRecorder()
				answer(rec, soap.SOAP12, &soap.Response{Op: "ClientUserEdit", Code: "SUCCESS", Data: soap.String(strings.Repeat("x", 1<<14))})
				b := rec.Body
				w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
				_, _ = w.Write(b.Bytes()[:b.Len()/2])
				w.(http.Flusher).Flush()
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					_ = conn.Close()
				}
			},
			processed: true,
			check: func(t *testing.T, err error) {
				var te *soap.TransportError
				require.ErrorAs(t, err, &te)
				require.True(t, te.Sent)
				require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			},
		},
		{
			name: "answer for another operation",
			handler: func(w http.ResponseWriter, r *http.Request) {
				answer(w, soap.SOAP12, &soap.Response{Op: "ClientUserAdd", Code: "SUCCESS"})
			},
			processed: true,
			check: func(t *testing.T, err error) {
				var de *soap.DecodeError
				require.ErrorAs(t, err, &de)
			},
		},
		{
			name: "OUT_OF_LIMIT",
			handler: func(w http.ResponseWriter, r *http.Request) {
				answer(w, soap.SOAP12, &soap.Response{Op: "ClientUserEdit", Code: "OUT_OF_LIMIT", Data: soap.String("limit reached")})
			},
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, soap.ErrOutOfLimit)
				var re *soap.ResultError
				require.ErrorAs(t, err, &re)
				require.Equal(t, "limit reached", re.Reason)
			},
		},
		{
			name: "connection cut after the request was read",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					_ = conn.Close()
				}
			},
			processed: true,
			check: func(t *testing.T, err error) {
				var te *soap.TransportError
				require.ErrorAs(t, err, &te)
				require.True(t, te.Sent)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := server(t, tc.handler)
			_, err := client(t, srv.URL, soap.SOAP11).Call(context.Background(), editRequest())
			require.Error(t, err)
			tc.check(t, err)
			require.Equal(t, tc.processed, soap.MayHaveBeenProcessed(err), "MayHaveBeenProcessed(%v)", err)
			require.NotContains(t, err.Error(), "s3cret-pass")
		})
	}
}

// TestClientNeverFollowsRedirects: a redirect would carry the Basic
// credentials to the host it names. The second server must see no request
// at all, and the call fails as not processed.
func TestClientNeverFollowsRedirects(t *testing.T) {
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			var elsewhere atomic.Int64
			var sawAuth atomic.Bool
			other, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
				elsewhere.Add(1)
				if r.Header.Get("Authorization") != "" {
					sawAuth.Store(true)
				}
				answer(w, soap.SOAP12, &soap.Response{Op: "ClientUserEdit", Code: "SUCCESS"})
			})
			srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+"/cus/ws/PartnerWebAPI2", code)
			})
			for _, c := range []*soap.Client{
				client(t, srv.URL, soap.SOAP11),
				// A client of the caller's is held to the same rule,
				// without being changed.
				func() *soap.Client {
					hc := &http.Client{}
					c, err := soap.New(soap.Config{URL: srv.URL, User: "admin", Password: "s3cret-pass", HTTPClient: hc})
					require.NoError(t, err)
					require.Nil(t, hc.CheckRedirect)
					return c
				}(),
			} {
				_, err := c.Call(context.Background(), editRequest())
				var he *soap.HTTPError
				require.ErrorAs(t, err, &he)
				require.Equal(t, code, he.StatusCode)
				require.False(t, soap.MayHaveBeenProcessed(err))
				require.NotContains(t, err.Error(), "s3cret-pass")
			}
			require.Zero(t, elsewhere.Load(), "the redirect's target got a request")
			require.False(t, sawAuth.Load())
		})
	}
}

func TestClientOutcomeOfTransportFailures(t *testing.T) {
	t.Run("nothing listening: not sent", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		_, err = client(t, "http://"+addr+"/cus/ws/PartnerWebAPI2", soap.SOAP11).Call(context.Background(), editRequest())
		var te *soap.TransportError
		require.ErrorAs(t, err, &te)
		require.False(t, te.Sent)
		require.False(t, soap.MayHaveBeenProcessed(err))
	})
	t.Run("context cancelled before sending", func(t *testing.T) {
		srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := client(t, srv.URL, soap.SOAP11).Call(ctx, editRequest())
		require.ErrorIs(t, err, context.Canceled)
		require.False(t, soap.MayHaveBeenProcessed(err))
	})
	t.Run("deadline while waiting for the answer: sent", func(t *testing.T) {
		release := make(chan struct{})
		srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		defer close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := client(t, srv.URL, soap.SOAP11).Call(ctx, editRequest())
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.True(t, soap.MayHaveBeenProcessed(err))
	})
}

func TestClientPacket(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		_, req, err := soap.DecodeRequest(r.Body, soap.Limits{})
		if err != nil || req.Params.Kind != soap.KindTable {
			http.Error(w, "bad", 400)
			return
		}
		// Answer only the first two rows: the service stopped at its limit.
		res := &soap.Table{Columns: []soap.Column{{Name: "ResultCode", Type: soap.TypeOf(soap.KindString)}, {Name: "ResultData"}}}
		for i := range min(2, len(req.Params.Table.Rows)) {
			code := "SUCCESS"
			data := soap.Null()
			if i == 1 {
				code, data = "OBJECT_NOT_FOUND", soap.String("ClientUserID: not found")
			}
			res.Rows = append(res.Rows, []soap.Value{soap.String(code), data})
		}
		answer(w, soap.SOAP12, &soap.Response{Op: req.Op, Code: "SUCCESS", Data: soap.TableValue(res)})
	})
	tab := &soap.Table{Columns: []soap.Column{{Name: "ClientUserID", Type: soap.TypeOf(soap.KindString)}}}
	for _, id := range []string{"a", "b", "c"} {
		tab.Rows = append(tab.Rows, []soap.Value{soap.String(id)})
	}
	resp, err := client(t, srv.URL, soap.SOAP11).Call(context.Background(), &soap.Request{Op: "ClientUserEdit", Params: soap.TableValue(tab)})
	require.NoError(t, err)
	rows, err := resp.Rows()
	require.NoError(t, err)
	require.Equal(t, []soap.RowResult{
		{Code: "SUCCESS"},
		{Code: "OBJECT_NOT_FOUND", Data: soap.String("ClientUserID: not found")},
	}, rows, "a short table: the third row was not processed")
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, u := range []string{"", "ftp://x/y", "http://", "https://user:pw@host/x", "::"} {
		_, err := soap.New(soap.Config{URL: u})
		require.Error(t, err, u)
	}
}

func TestEncodeRequestError(t *testing.T) {
	c, err := soap.New(soap.Config{URL: "http://127.0.0.1:1/"})
	require.NoError(t, err)
	_, err = c.Call(context.Background(), &soap.Request{Op: "a b"})
	require.Error(t, err)
	require.False(t, errors.As(err, new(*soap.TransportError)))
	var b bytes.Buffer
	require.Error(t, soap.EncodeRequest(&b, soap.SOAP11, &soap.Request{Op: "X", Children: []soap.Property{{Name: "1bad", Value: soap.String("")}}}))
}
