// Package metrics is a small, dependency-free metrics registry that renders
// the Prometheus text exposition format, version 0.0.4, so the worker can
// serve /metrics without client_golang.
//
// # Overview
//
// A Registry holds metric families. Each family is registered once, at
// start-up, with a name, a help text and a fixed list of label names:
//
//   - Counter returns a *CounterVec; With(values...) returns the *Counter of
//     one series, which only goes up (Add, Inc).
//   - Gauge returns a *GaugeVec; its *Gauge can be Set, Add, Inc and Dec.
//   - GaugeFunc registers a gauge whose series are computed by a callback at
//     scrape time, for values that already live elsewhere (queue depth per
//     operation read from the worker's state).
//   - Histogram returns a *HistogramVec; its *Histogram counts observations
//     into fixed buckets (see ExponentialBuckets and LinearBuckets).
//
// WriteTo renders the registry; Handler serves it over HTTP.
//
// Series of a vector are created on first use of their label values and
// never removed, so label values must come from a small, bounded set
// (operation names, outcomes), never from ids or error texts. A vector
// without labels has exactly one series, created at registration so that it
// is exported (at zero) before its first update.
//
// The fast path is to call With once and keep the returned *Counter,
// *Gauge or *Histogram: an update is then one or two atomic operations with
// no lock and no allocation. With itself takes a read lock and does not
// allocate once the series exists, so calling it per event is also fine.
//
// # Invariants
//
//   - The output is always valid exposition text: families sorted by name,
//     each with a # HELP and a # TYPE line before its samples; series sorted
//     by label values; label values escaped (backslash, double quote,
//     newline) and HELP text escaped (backslash, newline); invalid UTF-8
//     replaced by U+FFFD. No two families share a sample name (a histogram
//     "x" reserves x_bucket, x_sum and x_count).
//   - Metric names match [a-zA-Z_:][a-zA-Z0-9_:]* and label names match
//     [a-zA-Z_][a-zA-Z0-9_]*; neither may start with "__", and a histogram
//     may not use the label "le".
//   - A counter never decreases.
//   - A histogram's buckets are cumulative, its le="+Inf" bucket is always
//     present and always equals its _count.
//   - All methods are safe for concurrent use. There is no global state: a
//     program (or a test) makes as many registries as it wants.
//
// # Failure handling
//
// Mistakes that can only come from the code — an invalid or duplicate name,
// an empty help text, unsorted buckets, With called with the wrong number of
// label values, a negative or NaN counter increment — panic with a message
// starting "metrics:". They happen at start-up or on the first event, and
// tests catch them. The one mistake found at scrape time, a GaugeFunc
// callback returning samples with the wrong number of label values or the
// same label values twice, makes WriteTo return an error without writing
// anything, and Handler answer 500.
//
// # Not supported
//
// Summaries, untyped metrics, exemplars, timestamps, native histograms, the
// OpenMetrics and protobuf formats, compression, removing a series once
// created, and unregistering a family. Concurrent scrapes and updates are
// not a snapshot: a scrape racing with Observe may see a histogram's _sum
// and its buckets a few observations apart (never _count and the buckets).
package metrics
