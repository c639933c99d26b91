package metrics_test

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// parseExposition is a small validator for the text format as this package
// writes it. It checks that:
//   - every line ends with "\n";
//   - every family has "# HELP name …" then "# TYPE name kind" before its
//     samples, families are sorted by name and appear once;
//   - every sample line is `name{labels} value` or `name value`, with a
//     name belonging to the current family, valid label names, only the
//     escapes \\ \" \n in label values, a parseable value, no timestamp;
//   - no series repeats, and series are sorted by label values;
//   - histograms have cumulative buckets ending in le="+Inf", then _sum,
//     then _count equal to the +Inf bucket.
//
// It returns every sample's value keyed by its line up to the space, e.g.
// `x_total{op="a"}`.
func parseExposition(text string) (map[string]float64, error) {
	samples := make(map[string]float64)
	if text == "" {
		return samples, nil
	}
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("output does not end with a newline")
	}
	var (
		fam, kind  string     // current family
		prevFam    string     // previous family name, for order
		prevLabels []string   // label values (without le) of the previous series
		hist       *histState // histogram series being read
	)
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		lineErr := func(format string, args ...any) error {
			return fmt.Errorf("line %d %q: %s", i+1, line, fmt.Sprintf(format, args...))
		}
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			if hist != nil {
				return nil, lineErr("histogram %s ends inside a series", fam)
			}
			name, help, ok := strings.Cut(rest, " ")
			if !ok || !validMetric(name) {
				return nil, lineErr("bad HELP line")
			}
			if err := checkHelpEscapes(help); err != nil {
				return nil, lineErr("%v", err)
			}
			if prevFam != "" && name <= prevFam {
				return nil, lineErr("family %s after %s: not sorted or repeated", name, prevFam)
			}
			i++
			if i == len(lines) {
				return nil, lineErr("HELP without TYPE")
			}
			tname, tkind, _ := strings.Cut(strings.TrimPrefix(lines[i], "# TYPE "), " ")
			if !strings.HasPrefix(lines[i], "# TYPE ") || tname != name {
				return nil, fmt.Errorf("line %d %q: want # TYPE %s after its HELP", i+1, lines[i], name)
			}
			switch tkind {
			case "counter", "gauge", "histogram":
			default:
				return nil, fmt.Errorf("line %d: unknown type %q", i+1, tkind)
			}
			fam, kind, prevFam, prevLabels = name, tkind, name, nil
			continue
		}
		if strings.HasPrefix(line, "#") {
			return nil, lineErr("unexpected comment")
		}
		if fam == "" {
			return nil, lineErr("sample before any HELP/TYPE")
		}
		name, names, values, rest, err := parseSeries(line)
		if err != nil {
			return nil, lineErr("%v", err)
		}
		id := strings.TrimSuffix(line, rest)
		value, ok := strings.CutPrefix(rest, " ")
		if !ok || strings.Contains(value, " ") {
			return nil, lineErr("want `name{labels} value` and no timestamp")
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, lineErr("bad value: %v", err)
		}
		if _, dup := samples[id]; dup {
			return nil, lineErr("series repeats")
		}
		samples[id] = v

		if kind != "histogram" {
			if name != fam {
				return nil, lineErr("sample name %s in family %s", name, fam)
			}
			if prevLabels != nil && slices.Compare(values, prevLabels) <= 0 {
				return nil, lineErr("series not sorted by label values")
			}
			prevLabels = values
			continue
		}
		// Histogram: split off le, then follow _bucket… _sum _count.
		suffix, _ := strings.CutPrefix(name, fam)
		var le string
		if j := slices.Index(names, "le"); j >= 0 {
			le = values[j]
			values = slices.Delete(slices.Clone(values), j, j+1)
		}
		switch {
		case suffix == "_bucket" && le != "":
			if hist == nil {
				if prevLabels != nil && slices.Compare(values, prevLabels) <= 0 {
					return nil, lineErr("series not sorted by label values")
				}
				hist = &histState{labels: values, prevLe: math.Inf(-1)}
			}
			if !slices.Equal(values, hist.labels) || hist.sumSeen {
				return nil, lineErr("bucket out of place")
			}
			bound, err := strconv.ParseFloat(le, 64)
			if err != nil || bound <= hist.prevLe || v < hist.prevCount {
				return nil, lineErr("buckets not increasing or not cumulative")
			}
			hist.prevLe, hist.prevCount = bound, v
		case suffix == "_sum" && le == "":
			if hist == nil || !slices.Equal(values, hist.labels) || !math.IsInf(hist.prevLe, +1) {
				return nil, lineErr(`_sum without a complete bucket list ending in le="+Inf"`)
			}
			hist.sumSeen = true
		case suffix == "_count" && le == "":
			if hist == nil || !hist.sumSeen || !slices.Equal(values, hist.labels) {
				return nil, lineErr("_count out of place")
			}
			if v != hist.prevCount {
				return nil, lineErr(`_count %v != le="+Inf" bucket %v`, v, hist.prevCount)
			}
			prevLabels, hist = values, nil
		default:
			return nil, lineErr("sample name %s in histogram %s", name, fam)
		}
	}
	if hist != nil {
		return nil, fmt.Errorf("histogram %s ends inside a series", fam)
	}
	return samples, nil
}

type histState struct {
	labels    []string
	prevLe    float64
	prevCount float64
	sumSeen   bool
}

// parseSeries reads `name{a="x",b="y"}` or `name` from the start of line
// and returns the name, the label names, the unescaped label values and the
// rest of the line. Values are an empty, non-nil slice when there are no
// labels, so that the first series of a family compares as set.
func parseSeries(line string) (name string, names, values []string, rest string, err error) {
	end := strings.IndexAny(line, "{ ")
	if end < 0 {
		return "", nil, nil, "", fmt.Errorf("no value")
	}
	name, rest = line[:end], line[end:]
	if !validMetric(name) {
		return "", nil, nil, "", fmt.Errorf("bad metric name %q", name)
	}
	names, values = []string{}, []string{}
	if rest[0] != '{' {
		return name, names, values, rest, nil
	}
	rest = rest[1:]
	for {
		if r, ok := strings.CutPrefix(rest, "}"); ok && len(names) > 0 {
			return name, names, values, r, nil
		}
		if len(names) > 0 {
			r, ok := strings.CutPrefix(rest, ",")
			if !ok {
				return "", nil, nil, "", fmt.Errorf("want , or } after a label")
			}
			rest = r
		}
		ln, after, ok := strings.Cut(rest, `="`)
		if !ok || !validLabel(ln) || slices.Contains(names, ln) {
			return "", nil, nil, "", fmt.Errorf("bad or repeated label name %q", ln)
		}
		var val strings.Builder
		j := 0
		for ; j < len(after) && after[j] != '"'; j++ {
			if after[j] == '\n' {
				return "", nil, nil, "", fmt.Errorf("raw newline in label value")
			}
			if after[j] != '\\' {
				val.WriteByte(after[j])
				continue
			}
			j++
			switch {
			case j < len(after) && after[j] == '\\':
				val.WriteByte('\\')
			case j < len(after) && after[j] == '"':
				val.WriteByte('"')
			case j < len(after) && after[j] == 'n':
				val.WriteByte('\n')
			default:
				return "", nil, nil, "", fmt.Errorf("bad escape in label value")
			}
		}
		if j == len(after) {
			return "", nil, nil, "", fmt.Errorf("label value not closed")
		}
		names, values = append(names, ln), append(values, val.String())
		rest = after[j+1:]
	}
}

func checkHelpEscapes(help string) error {
	for j := 0; j < len(help); j++ {
		if help[j] != '\\' {
			continue
		}
		j++
		if j == len(help) || (help[j] != '\\' && help[j] != 'n') {
			return fmt.Errorf("bad escape in HELP")
		}
	}
	return nil
}

func validMetric(s string) bool { return validName(s, true) }
func validLabel(s string) bool  { return validName(s, false) }

func validName(s string, colon bool) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			colon && c == ':' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// TestValidatorRejects makes sure the validator catches what it is meant
// to catch, so that its silence on real output means something.
func TestValidatorRejects(t *testing.T) {
	t.Parallel()
	const head = "# HELP a_total h\n# TYPE a_total counter\n"
	tests := []struct {
		name, text, want string
	}{
		{"no final newline", head + "a_total 1", "newline"},
		{"sample before HELP", "a_total 1\n", "before any HELP"},
		{"HELP without TYPE", "# HELP a_total h\n", "without TYPE"},
		{"TYPE for other name", "# HELP a_total h\n# TYPE b counter\n", "want # TYPE"},
		{"unknown type", "# HELP a h\n# TYPE a summary\n", "unknown type"},
		{"families unsorted", "# HELP b h\n# TYPE b gauge\n" + head, "not sorted"},
		{"family repeated", head + head, "not sorted"},
		{"timestamp", head + "a_total 1 1700000000\n", "no timestamp"},
		{"bad value", head + "a_total one\n", "bad value"},
		{"foreign name", head + "b_total 1\n", "in family"},
		{"bad escape", head + `a_total{x="\t"} 1` + "\n", "bad escape"},
		{"bad help escape", "# HELP a h\\\"\n# TYPE a gauge\n", "bad escape in HELP"},
		{"series unsorted", head + "a_total{x=\"b\"} 1\na_total{x=\"a\"} 1\n", "not sorted"},
		{"series repeated", head + "a_total{x=\"a\"} 1\na_total{x=\"a\"} 1\n", "repeats"},
		{"repeated label", head + `a_total{x="a",x="b"} 1` + "\n", "repeated label"},
		{
			"count differs from +Inf",
			"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 3\n",
			"_count 3 != ",
		},
		{
			"buckets not cumulative",
			"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 3\nh_count 1\n",
			"not cumulative",
		},
		{
			"no +Inf bucket",
			"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 3\nh_count 2\n",
			`ending in le="+Inf"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseExposition(tt.text)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
