package metrics

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// vec holds the series of one vector family, keyed by their label values.
// Series are only ever added, and a series' values and pairs never change
// after it is published, so they are read without the lock.
type vec[T any] struct {
	kind   string   // "counter", "gauge" or "histogram", for panic messages
	name   string   // family name
	labels []string // label names, fixed at registration
	init   func(*T) // prepares the metric of a new series; nil if the zero T is ready

	mu sync.RWMutex // protects byKey and sorted
	// byKey maps the key of label values (see appendKey) to their series.
	// Values that are not valid UTF-8 have two keys: the raw values and the
	// sanitized ones the series is written with, so that two raw values
	// that render the same share one series.
	byKey map[string]*series[T]
	// sorted holds every series once, ordered by label values, so that a
	// scrape copies it instead of sorting.
	sorted []*series[T]
}

// series is one set of label values and its metric.
type series[T any] struct {
	values []string // label values, valid UTF-8, in label-name order
	pairs  []byte   // `name="value",…` escaped, without braces; empty without labels
	m      T
}

// setup prepares v. A vector without labels gets its single series now, so
// that it is exported before its first update.
func (v *vec[T]) setup(kind, name string, labels []string, init func(*T)) {
	v.kind, v.name, v.labels, v.init = kind, name, labels, init
	v.byKey = make(map[string]*series[T])
	if len(labels) == 0 {
		v.with(nil)
	}
}

// with returns the metric of the series with the given label values,
// creating it if needed. Once the series exists it takes a read lock and
// does not allocate.
func (v *vec[T]) with(values []string) *T {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %s %q: With got %d label values, want %d (%s)",
			v.kind, v.name, len(values), len(v.labels), strings.Join(v.labels, ", ")))
	}
	if s := v.lookup(values); s != nil {
		return &s.m
	}
	return v.create(values)
}

func (v *vec[T]) lookup(values []string) *series[T] {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if len(values) == 1 {
		return v.byKey[values[0]]
	}
	// The key is built on the stack, and the compiler does not copy a
	// []byte converted to string for a map lookup.
	var buf [128]byte
	return v.byKey[string(appendKey(buf[:0], values))]
}

// create adds the series for values unless another goroutine or an alias
// (see byKey) got there first.
func (v *vec[T]) create(values []string) *T {
	// Copy every value: the caller's strings may be slices of a larger
	// buffer (a message) that the series must not keep alive.
	raw := make([]string, len(values))
	for i, s := range values {
		raw[i] = strings.Clone(s)
	}
	clean, copied := raw, false
	for i, s := range raw {
		if c := strings.ToValidUTF8(s, "\uFFFD"); c != s {
			if !copied {
				clean, copied = slices.Clone(raw), true
			}
			clean[i] = c
		}
	}
	rawKey, cleanKey := key(raw), key(clean)

	v.mu.Lock()
	defer v.mu.Unlock()
	if s := v.byKey[rawKey]; s != nil {
		return &s.m
	}
	s := v.byKey[cleanKey]
	if s == nil {
		s = &series[T]{values: clean, pairs: appendPairs(nil, v.labels, clean)}
		if v.init != nil {
			v.init(&s.m)
		}
		v.byKey[cleanKey] = s
		i, _ := slices.BinarySearchFunc(v.sorted, clean, func(e *series[T], t []string) int {
			return slices.Compare(e.values, t)
		})
		v.sorted = slices.Insert(v.sorted, i, s)
	}
	v.byKey[rawKey] = s
	return &s.m
}

// snapshot returns the series in label-value order.
func (v *vec[T]) snapshot() []*series[T] {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return slices.Clone(v.sorted)
}

// key returns the map key of label values: the value itself when there is
// one, else each value prefixed by its length, which no two different lists
// of the same length share.
func key(values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	return string(appendKey(nil, values))
}

func appendKey(b []byte, values []string) []byte {
	for _, s := range values {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// appendPairs appends `name="value",…` with the values escaped.
func appendPairs(b []byte, names, values []string) []byte {
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, name...)
		b = append(b, `="`...)
		b = appendLabelValue(b, values[i])
		b = append(b, '"')
	}
	return b
}

// appendSample appends one sample line: the name and suffix, the label
// pairs in braces (no braces when there are none), a space and the value.
func appendSample(b []byte, name, suffix string, pairs []byte, value float64) []byte {
	b = append(b, name...)
	b = append(b, suffix...)
	if len(pairs) > 0 {
		b = append(b, '{')
		b = append(b, pairs...)
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, value)
	return append(b, '\n')
}

// addFloat atomically adds d to the float64 whose bits are stored in u.
func addFloat(u *atomic.Uint64, d float64) {
	for {
		old := u.Load()
		if u.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}
