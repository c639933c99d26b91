package enqueue

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
)

// MaxLineBytes bounds one line of a JSON lines file. Commands may carry
// files (the server's payload limit is 8 MiB, base64 adds a third).
const MaxLineBytes = 16 << 20

// Command is one command to publish.
type Command struct {
	// Op is the operation, e.g. "ClientUserEdit".
	Op string
	// ID is the command id; empty means Publish generates one.
	ID string
	// Fields are the operation's parameters. JSON numbers are json.Number,
	// so that they are published digit for digit.
	Fields map[string]any
	// Line is where the command came from: its 1-based line in a file, or
	// its 1-based position among the <Operation> <json> argument pairs.
	Line int
}

// Source is a sequence of commands to publish.
type Source struct {
	// Name names the source in messages: a file path, "stdin" or "args".
	Name string
	// Total is the number of commands the source holds, for the progress
	// line; zero when unknown (a pipe).
	Total int
	// Commands yields each command in order, or a *LineError for a
	// malformed one, after which it goes on with the next. Any other error
	// (reading failed) ends the sequence.
	Commands iter.Seq2[Command, error]
}

// LineError is a malformed command of a source.
type LineError struct {
	// Source is the Source's Name.
	Source string
	// Line is the 1-based line, or argument pair.
	Line int
	// Err says what is wrong.
	Err error
}

// Error returns "file:line: problem", or "argument pair n: problem".
func (e *LineError) Error() string {
	if e.Source == argsName {
		return fmt.Sprintf("argument pair %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.Source, e.Line, e.Err)
}

// Unwrap returns the problem.
func (e *LineError) Unwrap() error { return e.Err }

// argsName is the Source name of commands from arguments.
const argsName = "args"

// ParseArgs reads <Operation> <json command> pairs, e.g.
// ClientUserEdit '{"id":"c-1","fields":{...}}'. The JSON object has "id"
// (optional) and "fields"; it may repeat the operation as "op". Any
// problem, an operation not in the catalogue included (unless
// allowUnknown), is returned at once: nothing is published from bad
// arguments.
func ParseArgs(args []string, allowUnknown bool) (Source, error) {
	if len(args) == 0 {
		return Source{}, errors.New("enqueue: no command: give <Operation> '<json command>' pairs or -f file")
	}
	if len(args)%2 != 0 {
		return Source{}, fmt.Errorf("enqueue: %q has no JSON command after it: give <Operation> '<json command>' pairs", args[len(args)-1])
	}
	cmds := make([]Command, 0, len(args)/2)
	for i := 0; i < len(args); i += 2 {
		n := i/2 + 1
		c, err := parseCommand([]byte(args[i+1]), args[i], allowUnknown)
		if err != nil {
			return Source{}, fmt.Errorf("enqueue: %w", &LineError{Source: argsName, Line: n, Err: err})
		}
		c.Line = n
		cmds = append(cmds, c)
	}
	return Source{
		Name:  argsName,
		Total: len(cmds),
		Commands: func(yield func(Command, error) bool) {
			for _, c := range cmds {
				if !yield(c, nil) {
					return
				}
			}
		},
	}, nil
}

// Lines reads JSON lines from r, one command a line:
// {"op":"ClientUserEdit","id":"c-1","fields":{...}}. op, when not empty,
// is the operation of lines without "op" (a line's own "op" must then
// match it). Blank lines and lines starting with # are skipped. When r is
// a seekable regular file, its commands are counted first for Total.
func Lines(name string, r io.Reader, op string, allowUnknown bool) Source {
	src := Source{Name: name}
	if s, ok := r.(io.ReadSeeker); ok {
		src.Total = countLines(s)
	}
	src.Commands = func(yield func(Command, error) bool) {
		// Streamed line by line: a file of a million commands is never
		// held in memory whole.
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
		n := 0
		for sc.Scan() {
			n++
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 || line[0] == '#' {
				continue
			}
			c, err := parseCommand(line, op, allowUnknown)
			if err != nil {
				if !yield(Command{}, &LineError{Source: name, Line: n, Err: err}) {
					return
				}
				continue
			}
			c.Line = n
			if !yield(c, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				err = fmt.Errorf("line longer than %d bytes", MaxLineBytes)
			}
			yield(Command{}, fmt.Errorf("enqueue: read %s after line %d: %w", name, n, err))
		}
	}
	return src
}

// OpenFile opens path ("-" is stdin) as a source of JSON lines; see
// Lines. The caller closes the returned closer when done.
func OpenFile(path string, stdin io.Reader, op string, allowUnknown bool) (Source, io.Closer, error) {
	if op != "" {
		if err := CheckOperation(op, allowUnknown); err != nil {
			return Source{}, nil, fmt.Errorf("enqueue: --op: %w", err)
		}
	}
	if path == "-" {
		return Lines("stdin", stdin, op, allowUnknown), io.NopCloser(stdin), nil
	}
	fh, err := os.Open(path)
	if err != nil {
		return Source{}, nil, fmt.Errorf("enqueue: %w", err)
	}
	return Lines(path, fh, op, allowUnknown), fh, nil
}

// countLines counts the lines of s that are not blank or comments and
// seeks back; it returns 0 when s cannot seek (a pipe).
func countLines(s io.ReadSeeker) int {
	start, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0
	}
	// A terminal or a pipe may answer Seek but cannot be read twice.
	if fh, ok := s.(*os.File); ok {
		if st, err := fh.Stat(); err != nil || !st.Mode().IsRegular() {
			return 0
		}
	}
	sc := bufio.NewScanner(s)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	n := 0
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 && line[0] != '#' {
			n++
		}
	}
	if _, err := s.Seek(start, io.SeekStart); err != nil || sc.Err() != nil {
		return 0
	}
	return n
}

// parseCommand reads one JSON command object. op is the operation given
// outside the object (argument or --op), empty if none.
func parseCommand(data []byte, op string, allowUnknown bool) (Command, error) {
	// Decoded key by key to name what is wrong in words a producer
	// understands, rather than json's Go type names.
	var raw map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&raw); err != nil {
		return Command{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if d.More() {
		return Command{}, errors.New("data after the JSON object")
	}
	if raw == nil {
		return Command{}, errors.New("not a JSON object: null")
	}
	c := Command{Op: op}
	for k, v := range raw {
		switch k {
		case "op":
			var lineOp string
			if err := json.Unmarshal(v, &lineOp); err != nil {
				return Command{}, errors.New(`"op" is not a string`)
			}
			if op != "" && lineOp != op {
				return Command{}, fmt.Errorf(`"op" is %q but the operation given is %q`, lineOp, op)
			}
			c.Op = lineOp
		case "id":
			if err := json.Unmarshal(v, &c.ID); err != nil {
				return Command{}, errors.New(`"id" is not a string`)
			}
			if err := checkID(c.ID); err != nil {
				return Command{}, err
			}
		case "fields":
			d := json.NewDecoder(bytes.NewReader(v))
			d.UseNumber() // publish numbers digit for digit
			if err := d.Decode(&c.Fields); err != nil {
				return Command{}, errors.New(`"fields" is not a JSON object`)
			}
		default:
			// Strict: a misspelt "fields" would otherwise publish a
			// command with no fields, which the worker might accept.
			return Command{}, fmt.Errorf(`unknown key %q (want "op", "id" and "fields")`, k)
		}
	}
	if c.Op == "" {
		return Command{}, errors.New(`no operation: give "op" or --op`)
	}
	if err := CheckOperation(c.Op, allowUnknown); err != nil {
		return Command{}, err
	}
	if c.Fields == nil {
		c.Fields = map[string]any{}
	}
	return c, nil
}

// checkID applies the contract's rules for an id that is given. It must
// also fit in a header, so control characters are refused.
func checkID(id string) error {
	switch {
	case id == "":
		return errors.New(`"id" is empty (leave it out to have one generated)`)
	case len(id) > contract.MaxIDLength:
		return fmt.Errorf(`"id" is %d bytes, longer than %d`, len(id), contract.MaxIDLength)
	case !utf8.ValidString(id):
		return errors.New(`"id" is not valid UTF-8`)
	case strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New(`"id" holds a control character`)
	}
	return nil
}

// CheckOperation refuses an operation name that cannot be a subject
// token, and one that is not in the catalogue unless allowUnknown; the
// error then wraps ErrUnknownOperation.
func CheckOperation(op string, allowUnknown bool) error {
	if op == "" || strings.ContainsAny(op, ".*> \t\r\n") {
		return fmt.Errorf("operation %q is not a valid subject token", op)
	}
	if _, ok := catalog.Lookup(op); ok || allowUnknown {
		return nil
	}
	for _, o := range catalog.All() {
		if strings.EqualFold(o.Name, op) {
			return unknownOpError(fmt.Sprintf("unknown operation %q: did you mean %q?", op, o.Name))
		}
	}
	return unknownOpError(fmt.Sprintf("unknown operation %q (not in the catalogue; --allow-unknown sends it anyway)", op))
}

// unknownOpError is an unknown operation, worded to go inside a LineError
// (without the package prefix); it is ErrUnknownOperation for errors.Is.
type unknownOpError string

func (e unknownOpError) Error() string { return string(e) }

// Is reports whether target is ErrUnknownOperation.
func (e unknownOpError) Is(target error) bool { return target == ErrUnknownOperation }
