package k8s_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// goBuild is a `go build` command line: the environment assignments
// before it, its flags (with -o and its value left out: where the binary
// goes differs) and its packages.
type goBuild struct {
	env      map[string]string
	flags    []string
	packages []string
	output   string
}

// shellWords splits a command line as sh would, for the quoting used in a
// Makefile or Dockerfile: single and double quotes, backslash escapes.
func shellWords(s string) ([]string, error) {
	var (
		words      []string
		cur        strings.Builder
		inWord     bool
		quote      rune
		escapeNext bool
		endWord    = func() {
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		}
	)
	for _, r := range s {
		switch {
		case escapeNext:
			cur.WriteRune(r)
			escapeNext = false
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\\':
			escapeNext, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			endWord()
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escapeNext {
		return nil, fmt.Errorf("unterminated quote or escape in %q", s)
	}
	endWord()
	return words, nil
}

// parseGoBuild reads the `go build` command out of a shell command line.
func parseGoBuild(t *testing.T, line string) goBuild {
	t.Helper()
	words, err := shellWords(line)
	require.NoError(t, err)
	gb := goBuild{env: map[string]string{}}
	i := 0
	for ; i < len(words); i++ {
		k, v, ok := strings.Cut(words[i], "=")
		if !ok || strings.HasPrefix(k, "-") {
			break
		}
		gb.env[k] = v
	}
	require.GreaterOrEqual(t, len(words), i+2, "no go build in %q", line)
	require.Contains(t, []string{"go", "$(GO)"}, words[i], "in %q", line)
	require.Equal(t, "build", words[i+1], "in %q", line)
	for j := i + 2; j < len(words); j++ {
		w := words[j]
		switch {
		case w == "-o":
			j++
			require.Less(t, j, len(words), "-o without a value")
			gb.output = words[j]
		case strings.HasPrefix(w, "-o="):
			gb.output = strings.TrimPrefix(w, "-o=")
		case strings.HasPrefix(w, "-"):
			gb.flags = append(gb.flags, w)
		default:
			gb.packages = append(gb.packages, w)
		}
	}
	slices.Sort(gb.flags)
	return gb
}

// makeStatic returns the recipe of the Makefile's static target.
func makeStatic(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(makefileFile)
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "static:") {
			continue
		}
		var recipe []string
		for _, r := range lines[i+1:] {
			if !strings.HasPrefix(r, "\t") {
				break
			}
			recipe = append(recipe, strings.TrimSpace(r))
		}
		require.Len(t, recipe, 1, "make static should be one go build")
		return recipe[0]
	}
	t.Fatal("the Makefile has no static target")
	return ""
}

// dockerInstruction is one Dockerfile instruction, continuations joined.
type dockerInstruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

func readDockerfile(t *testing.T) []dockerInstruction {
	t.Helper()
	data, err := os.ReadFile(dockerfileFile)
	require.NoError(t, err)
	var (
		out  []dockerInstruction
		cont string
	)
	for _, l := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(l)
		if cont == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cont += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		full := cont + trimmed
		cont = ""
		cmd, args, _ := strings.Cut(full, " ")
		out = append(out, dockerInstruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
	}
	require.Empty(t, cont, "the Dockerfile ends in a continuation")
	return out
}

// TestDockerfileBuildsLikeMakeStatic: no Docker engine runs here or in
// CI, so CI builds the same binary with `make static`; this keeps the two
// build commands the same.
func TestDockerfileBuildsLikeMakeStatic(t *testing.T) {
	t.Parallel()
	mk := parseGoBuild(t, makeStatic(t))
	inst := readDockerfile(t)

	var (
		builds   []goBuild
		froms    []string
		user     string
		entry    []string
		copyFrom [][]string
	)
	for _, in := range inst {
		switch in.cmd {
		case "FROM":
			froms = append(froms, in.args)
		case "RUN":
			words, err := shellWords(in.args)
			require.NoError(t, err)
			for len(words) > 0 && strings.HasPrefix(words[0], "--") { // --mount=...
				words = words[1:]
			}
			cmdline := strings.Join(words, " ")
			if strings.Contains(cmdline, " build ") {
				// Re-split from the original to keep quoting intact.
				idx := strings.Index(in.args, words[0])
				builds = append(builds, parseGoBuild(t, in.args[idx:]))
			}
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			require.NoError(t, json.Unmarshal([]byte(in.args), &entry), "ENTRYPOINT must be exec form")
		case "COPY":
			if strings.HasPrefix(in.args, "--from=") {
				copyFrom = append(copyFrom, strings.Fields(in.args))
			}
		}
	}
	require.Len(t, builds, 1, "one go build in the Dockerfile")
	db := builds[0]

	t.Run("same environment", func(t *testing.T) {
		env := maps.Clone(db.env)
		delete(env, "GOOS") // the target platform, chosen by buildx
		delete(env, "GOARCH")
		require.Equal(t, mk.env, env)
		require.Equal(t, "0", mk.env["CGO_ENABLED"])
	})
	t.Run("same flags", func(t *testing.T) {
		require.Equal(t, mk.flags, db.flags)
		require.Contains(t, mk.flags, "-trimpath")
	})
	t.Run("same package", func(t *testing.T) {
		require.Equal(t, mk.packages, db.packages)
		require.Equal(t, []string{"./cmd/worker"}, db.packages)
	})
	t.Run("Go of go.mod", func(t *testing.T) {
		mod, err := os.ReadFile(goModFile)
		require.NoError(t, err)
		m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
		require.NotNil(t, m, "no go directive in go.mod")
		require.Len(t, froms, 2, "a build stage and a final stage")
		require.Regexp(t, `(^|\s)golang:`+regexp.QuoteMeta(string(m[1]))+`(\s|$|[.-])`, froms[0])
	})
	t.Run("distroless, non-root, the built binary", func(t *testing.T) {
		require.Equal(t, "gcr.io/distroless/static-debian12:nonroot", froms[len(froms)-1])
		require.Equal(t, "65532:65532", user)
		require.Len(t, entry, 1)
		require.Len(t, copyFrom, 1)
		cp := copyFrom[0] // --from=build SRC DST
		require.Len(t, cp, 3)
		require.Equal(t, db.output, cp[1], "COPY takes what go build wrote")
		require.Equal(t, entry[0], cp[2], "ENTRYPOINT runs what COPY placed")
	})
}
