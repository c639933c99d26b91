package soap

import (
	"bytes"
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
	// MaxResponseBytes caps a response body. Defaults to 64 MiB.
	MaxResponseBytes int64
	// Limits bound the decoder; see Limits.
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
	hc := cfg.HTTPClient
	if hc == nil {
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
	return &Client{cfg: cfg, url: u.String(), http: hc}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Call sends req and decodes the answer. The error is one of the typed
// errors of this package: *TransportError, *AuthError, *HTTPError,
// *FaultError, *DecodeError, or *ResultError when the ResultCode is not
// SUCCESS (then the Response is returned too).
func (c *Client) Call(ctx context.Context, req *Request) (*Response, error) {
	buf, _ := c.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	defer c.bufs.Put(buf)
	if err := AppendRequest(buf, c.cfg.Version, req); err != nil {
		return nil, err
	}
	return c.post(ctx, req.Op, buf.Bytes())
}

// post sends one encoded envelope and reads the answer.
func (c *Client) post(ctx context.Context, op string, body []byte) (*Response, error) {
	// sent turns true once the whole request is written: from then on a
	// failure leaves the outcome unknown.
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			sent.Store(true)
		}
	}}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, &TransportError{Op: op, Err: err}
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
	switch hresp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, &AuthError{Op: op, StatusCode: hresp.StatusCode}
	}
	data, err := io.ReadAll(io.LimitReader(hresp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		// The request was answered, so the service ran it.
		return nil, &TransportError{Op: op, Sent: true, Err: scrub(err)}
	}
	if int64(len(data)) > c.cfg.MaxResponseBytes {
		return nil, &DecodeError{Op: op, Offset: c.cfg.MaxResponseBytes, Err: ErrResponseTooLarge}
	}
	resp, err := DecodeResponseBytes(data, c.cfg.Limits)
	if err != nil {
		var fe *FaultError
		var de *DecodeError
		switch {
		case errors.As(err, &fe):
			fe.Op, fe.StatusCode = op, hresp.StatusCode
		case hresp.StatusCode != http.StatusOK:
			// A status without a SOAP body: a proxy, a gateway, or the
			// service failing before it could answer in SOAP.
			return nil, &HTTPError{Op: op, StatusCode: hresp.StatusCode, Body: snippet(data)}
		case errors.As(err, &de):
			de.Op = op
		}
		return nil, err
	}
	if hresp.StatusCode != http.StatusOK {
		return nil, &HTTPError{Op: op, StatusCode: hresp.StatusCode, Body: snippet(data)}
	}
	if resp.Op != op {
		return nil, &DecodeError{Op: op, Err: fmt.Errorf("answer is for operation %s", resp.Op)}
	}
	return resp, resp.Err()
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

func snippet(b []byte) string {
	const n = 256
	if len(b) > n {
		b = b[:n]
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}
