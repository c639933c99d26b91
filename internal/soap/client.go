package soap

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Client. Zero fields take the defaults given.
type Config struct {
	// URL is the service endpoint, e.g.
	// https://cus.1c-connect.com/cus/ws/PartnerWebAPI2. Required.
	URL string
	// User and Password are the HTTP Basic credentials of an administrator
	// of the account. The password is never logged or put in errors.
	User, Password string
	// Version is the SOAP version spoken. Defaults to SOAP 1.1.
	Version Version
	// MaxResponseBytes caps a response body: a longer one is a
	// *DecodeError wrapping ErrResponseTooLarge. Defaults to 64 MiB.
	MaxResponseBytes int64
	// Limits bound the decoder; see Limits. Its MaxBytes is not used:
	// MaxResponseBytes caps what is read.
	Limits Limits
	// TLS configures HTTPS (e.g. a private CA). Nil uses the system roots.
	TLS *tls.Config
	// MaxConnsPerHost caps open connections to the service. Defaults to 16.
	MaxConnsPerHost int
	// HTTPClient replaces the client's own HTTP client (tests). Its
	// transport should keep connections alive.
	HTTPClient *http.Client
}

// Client calls PartnerWebAPI2 operations over HTTP. It is safe for
// concurrent use and reuses connections. Per-call timeouts come from the
// context.
type Client struct {
	cfg  Config
	url  string
	http *http.Client
	bufs sync.Pool // of *bytes.Buffer, request bodies
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("soap: endpoint URL %q is not an http(s) URL", cfg.URL)
	}
	if u.User != nil {
		return nil, errors.New("soap: endpoint URL must not carry credentials; set User and Password")
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 64 << 20
	}
	if cfg.MaxConnsPerHost <= 0 {
		cfg.MaxConnsPerHost = 16
	}
	var hc *http.Client
	if cfg.HTTPClient != nil {
		own := *cfg.HTTPClient // a copy, so that the rule below holds without changing the caller's
		hc = &own
	} else {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       cfg.TLS,
			TLSHandshakeTimeout:   10 * time.Second,
			MaxIdleConns:          cfg.MaxConnsPerHost,
			MaxIdleConnsPerHost:   cfg.MaxConnsPerHost,
			MaxConnsPerHost:       cfg.MaxConnsPerHost,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			ForceAttemptHTTP2:     true,
		}}
	}
	// Never follow a redirect: it would carry the Basic credentials to
	// wherever it points, and the service did not run a redirected call.
	// A 3xx answer is an *HTTPError.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{cfg: cfg, url: u.String(), http: hc}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Call sends req and decodes the answer. The error is one of the typed
// errors of this package: *TransportError, *AuthError, *HTTPError,
// *FaultError, *DecodeError, or *ResultError when the ResultCode is not
// SUCCESS (then the Response is returned too).
func (c *Client) Call(ctx context.Context, req *Request) (*Response, error) {
	lim := c.cfg.Limits
	lim.MaxBytes = c.cfg.MaxResponseBytes
	return c.send(ctx, req, func(r io.Reader) (*Response, error) { return DecodeResponse(r, lim) })
}

// RowsOptions configures one CallRows. Zero fields take the client's
// settings.
type RowsOptions struct {
	// MaxResponseBytes caps this call's response body, in place of
	// Config.MaxResponseBytes: a read that may answer with every object of
	// a directory (a change feed's first read) needs more than a command's
	// answer, e.g. 1 GiB. A longer body is a *DecodeError wrapping
	// ErrResponseTooLarge.
	MaxResponseBytes int64
	// MaxRowBytes caps one row, and the answer outside its rows, in place
	// of Config.Limits.MaxRowBytes (which defaults to 1 MiB); see
	// Limits.MaxRowBytes.
	MaxRowBytes int64
}

// CallRows sends req, a read, and hands each row of the answer's table to
// each as it is decoded from the HTTP body, so that memory stays bounded
// by one row and the decoder's state whatever the number of rows (see
// DecodeResponseRows for what each gets and may keep). The Response has
// no rows: Op, Code, ServerTime, and Data holding the table's columns (or
// ResultData itself when it is not a ValueTable, as when the ResultCode
// is not SUCCESS).
//
// The errors are Call's, and: an error of each stops the call and comes
// back wrapped (errors.Is finds it), the connection closed; a malformed
// row is a *DecodeError after the rows before it were handed over. An
// answer for another operation is refused before any row. Rows come
// before the ResultCode only in an answer that puts ResultData first
// (the service writes ResultCode first); a *ResultError then comes after
// them.
func (c *Client) CallRows(ctx context.Context, req *Request, opt RowsOptions, each func(cols []Column, row []Value) error) (*Response, error) {
	switch {
	case each == nil:
		return nil, fmt.Errorf("soap: call %s: CallRows needs a row function", req.Op)
	case opt.MaxResponseBytes < 0, opt.MaxRowBytes < 0:
		return nil, fmt.Errorf("soap: call %s: negative cap in RowsOptions", req.Op)
	}
	lim := c.cfg.Limits
	lim.MaxBytes = cmp.Or(opt.MaxResponseBytes, c.cfg.MaxResponseBytes)
	lim.MaxRowBytes = cmp.Or(opt.MaxRowBytes, lim.MaxRowBytes)
	return c.send(ctx, req, func(r io.Reader) (*Response, error) {
		return decodeResponseRows(r, lim, req.Op, each)
	})
}

// send encodes req into a pooled buffer and posts it; decode reads the
// answer's body. Streamed values (Stream) are read as the request is
// written, in place of placeholders in the envelope.
func (c *Client) send(ctx context.Context, req *Request, decode func(io.Reader) (*Response, error)) (*Response, error) {
	buf, _ := c.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	defer c.bufs.Put(buf)
	if !hasBlob(req) {
		if err := appendRequest(buf, c.cfg.Version, req); err != nil {
			return nil, err
		}
		return c.post(ctx, req.Op, bytes.NewReader(buf.Bytes()), int64(buf.Len()), decode)
	}
	nonce := newNonce()
	plain, streamed := blobs(req, nonce)
	if err := appendRequest(buf, c.cfg.Version, plain); err != nil {
		return nil, err
	}
	body, length, err := newStreamedBody(ctx, buf.Bytes(), nonce, streamed)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return c.post(ctx, req.Op, body, length, decode)
}

// post sends one encoded envelope and reads the answer with decode.
func (c *Client) post(ctx context.Context, op string, body io.Reader, length int64, decode func(io.Reader) (*Response, error)) (*Response, error) {
	// sent turns true once the whole request is written: from then on a
	// failure leaves the outcome unknown.
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			sent.Store(true)
		}
	}}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, c.url, body)
	if err != nil {
		return nil, &TransportError{Op: op, Err: err}
	}
	hreq.ContentLength = length
	if _, streamed := body.(*streamedBody); streamed {
		// Read once: the transport may not replay it (GetBody stays nil).
		hreq.GetBody = nil
	}
	action := Action(op)
	hreq.Header.Set("Content-Type", c.cfg.Version.ContentType(action))
	if c.cfg.Version == SOAP11 {
		hreq.Header.Set("SOAPAction", `"`+action+`"`)
	}
	hreq.Header.Set("Accept", "text/xml, application/soap+xml")
	hreq.SetBasicAuth(c.cfg.User, c.cfg.Password)

	hresp, err := c.http.Do(hreq)
	if err != nil {
		return nil, &TransportError{Op: op, Sent: sent.Load(), Err: scrub(err)}
	}
	defer func() {
		// Drain a little so the connection can be reused, then close.
		_, _ = io.CopyN(io.Discard, hresp.Body, 4<<10)
		_ = hresp.Body.Close()
	}()
	switch {
	case hresp.StatusCode == http.StatusUnauthorized, hresp.StatusCode == http.StatusForbidden:
		return nil, &AuthError{Op: op, StatusCode: hresp.StatusCode}
	case hresp.StatusCode >= 300 && hresp.StatusCode < 400:
		// Not followed (see New): the service never saw the call.
		data, _ := io.ReadAll(io.LimitReader(hresp.Body, snippetBytes))
		return nil, &HTTPError{Op: op, StatusCode: hresp.StatusCode, Body: snippet(data)}
	case hresp.StatusCode != http.StatusOK:
		return c.failed(op, hresp)
	}
	// The answer is decoded as it arrives, within the cap, so a big read
	// is never held twice.
	in := &bodyReader{r: hresp.Body}
	resp, err := decode(in)
	if err != nil {
		var fe *FaultError
		var de *DecodeError
		var stop *rowsStopped
		switch {
		case in.err != nil:
			// The request was answered, so the service ran it.
			return nil, &TransportError{Op: op, Sent: true, Err: scrub(in.err)}
		case errors.As(err, &stop):
			// The caller's own error, whatever it wraps.
			return nil, fmt.Errorf("soap: call %s: %w", op, err)
		case errors.As(err, &fe):
			fe.Op, fe.StatusCode = op, hresp.StatusCode
		case errors.As(err, &de):
			de.Op = op
		}
		return nil, err
	}
	if resp.Op != op {
		return nil, &DecodeError{Op: op, Err: fmt.Errorf("answer is for operation %s", resp.Op)}
	}
	resp.ServerTime = serverTime(hresp.Header)
	return resp, resp.Err()
}

// serverTime reads the Date header of an answer: the service's clock, to
// the second. Zero when it is missing or not an HTTP date.
func serverTime(h http.Header) time.Time {
	t, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// failed reads an answer with a status other than 200: a SOAP Fault (the
// service's exception, usually with 500) is a *FaultError, anything else
// an *HTTPError.
func (c *Client) failed(op string, hresp *http.Response) (*Response, error) {
	data, err := io.ReadAll(io.LimitReader(hresp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return nil, &TransportError{Op: op, Sent: true, Err: scrub(err)}
	}
	if int64(len(data)) > c.cfg.MaxResponseBytes {
		return nil, &DecodeError{Op: op, Offset: c.cfg.MaxResponseBytes, Err: ErrResponseTooLarge}
	}
	_, err = DecodeResponseBytes(data, c.cfg.Limits)
	var fe *FaultError
	if errors.As(err, &fe) {
		fe.Op, fe.StatusCode = op, hresp.StatusCode
		return nil, fe
	}
	// A status without a SOAP Fault: a proxy, a gateway, or the service
	// failing before it could answer in SOAP.
	return nil, &HTTPError{Op: op, StatusCode: hresp.StatusCode, Body: snippet(data)}
}

// bodyReader keeps the error of reading a response body, which is the
// transport's, apart from what the decoder makes of the bytes.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// scrub removes the URL (which could carry a query with secrets in some
// set-ups) from net/http's *url.Error, keeping the cause.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// snippetBytes is how much of a body an *HTTPError keeps.
const snippetBytes = 256

func snippet(b []byte) string {
	if len(b) > snippetBytes {
		b = b[:snippetBytes]
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}

// RowCaller is what reads an answer row by row as it is decoded
// (*Client): the change feeds and the exports read through it.
type RowCaller interface {
	CallRows(ctx context.Context, req *Request, opt RowsOptions, each func(cols []Column, row []Value) error) (*Response, error)
}
