package contract

import "net/http"

// HeaderTraceparent is the W3C trace context header: a command that
// carries one continues its producer's trace, and results, change events
// and history rows carry the traceparent of the span that made them.
const HeaderTraceparent = "traceparent"

// TraceCarrier reads and writes trace context in message headers (a
// nats.Header converts to it), for an OpenTelemetry propagator. NATS
// header names are case-sensitive: it writes the W3C spelling (lower
// case) and reads either that or the HTTP spelling (Traceparent), which
// producers going through an HTTP-style carrier write.
type TraceCarrier map[string][]string

// Get returns the first value of key.
func (c TraceCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return http.Header(c).Get(key)
}

// Set sets key to value.
func (c TraceCarrier) Set(key, value string) { c[key] = []string{value} }

// Keys lists the keys.
func (c TraceCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
