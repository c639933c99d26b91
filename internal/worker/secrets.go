package worker

import (
	"strings"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
)

// secrets tells which fields of a command are secret: those named in
// Config.SecretFields (any case) and those the catalogue marks secret.
// Their values never reach a dead letter, a log line or an error text.
type secrets struct {
	names map[string]bool // lower-case field names
}

func newSecrets(names []string) secrets {
	s := secrets{names: make(map[string]bool, len(names))}
	for _, n := range names {
		s.names[strings.ToLower(n)] = true
	}
	return s
}

// is reports whether field of operation op (nil when unknown) is secret.
func (s secrets) is(op *catalog.Operation, field string) bool {
	return s.names[strings.ToLower(field)] || (op != nil && op.IsSecret(field))
}

// redact returns e's payload with the values of its secret fields
// replaced, for a dead letter. A payload the worker did not decode (a
// poisoned command) is only scanned as text, never decoded.
func (w *Worker) redact(e *entry) []byte {
	secret := func(field string) bool { return w.secrets.is(e.cat, field) }
	if e.poisoned {
		return contract.RedactText(e.msg.Data(), secret)
	}
	return contract.Redact(e.format, e.msg.Data(), secret)
}
