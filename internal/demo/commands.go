// Package demo is the logic of `make run` (scripts/demo.sh, cmd/demo):
// it writes the sample of commands the demo sends, and sums up what came
// of them for a newcomer — commands, calls made, calls the naive
// one-call-per-command way would have made, the time, the quota left.
//
// Invariants: the sample is the same on every run (no clock, no random
// source); every figure of the summary is counted from what the demo's
// processes reported (enqueue's results, the sandbox's /stats, the
// output of `worker quota`), never assumed; a summary is refused unless
// every command got exactly one result.
package demo

import (
	"encoding/json"
	"fmt"
	"io"
)

// Plan says what the sample holds. The sandbox must be started with
// Plan.SeedUsers() seeded client users.
type Plan struct {
	// Plain are users edited once each with the required fields only:
	// they fill packets of one shape.
	Plain int
	// Profiles are users edited once each with two optional fields too
	// (Surname, Post): another shape, so another packet.
	Profiles int
	// Hot users are edited HotEdits times each, interleaved with the plain
	// edits: the waiting edits of one user collapse into one row.
	Hot, HotEdits int
}

// DefaultPlan is the sample of `make run`: 504 ClientUserEdit commands
// (3 invalid, 1 of a user that does not exist), one add and one read.
var DefaultPlan = Plan{Plain: 400, Profiles: 20, Hot: 10, HotEdits: 8}

// SeedUsers is how many users the sandbox must know: the plain ones,
// then the profiles, then the hot ones.
func (p Plan) SeedUsers() int { return p.Plain + p.Profiles + p.Hot }

// Command is one line of the sample: what `enqueue -f` reads.
type Command struct {
	Op     string         `json:"op"`
	ID     string         `json:"id"`
	Fields map[string]any `json:"fields"`
}

// UserID is the id of the sandbox's n-th seeded client user (from 1), as
// connect-emulator --seed-client-users numbers them.
func UserID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// names give the edits readable values.
var names = []string{"Анна", "Борис", "Вера", "Глеб", "Дарья", "Егор", "Жанна", "Зоя", "Илья", "Кира"}

// edit is a ClientUserEdit with the required fields, the k-th values.
func edit(id string, user, k int) Command {
	return Command{Op: "ClientUserEdit", ID: id, Fields: map[string]any{
		"ClientUserID": UserID(user),
		"Name":         fmt.Sprintf("%s %d", names[k%len(names)], k),
		"Password":     "secret1",
		"Phone":        fmt.Sprintf("+7 900 %03d-%02d-%02d", user/10000%1000, user/100%100, user%100),
		"EMail":        fmt.Sprintf("user%d.%d@example.com", user, k),
	}}
}

// Commands returns the sample in the order it is published.
func (p Plan) Commands() []Command {
	var out []Command
	// The hot users' edits are spread evenly over the plain ones, so that
	// they arrive while packets fill, as a real producer's would.
	hot := make([]Command, 0, p.Hot*p.HotEdits)
	for k := range p.HotEdits {
		for h := range p.Hot {
			user := p.Plain + p.Profiles + h + 1
			hot = append(hot, edit(fmt.Sprintf("demo-hot-%d-%d", h+1, k+1), user, 1000+k))
		}
	}
	every := max(p.Plain/max(len(hot), 1), 1)
	for i := range p.Plain {
		out = append(out, edit(fmt.Sprintf("demo-edit-%d", i+1), i+1, i))
		if i%every == every-1 && len(hot) > 0 {
			out, hot = append(out, hot[0]), hot[1:]
		}
		switch i {
		case p.Plain / 4:
			out = append(out, invalid()...)
		case p.Plain / 2:
			out = append(out,
				Command{Op: "DepartmentAdd", ID: "demo-department", Fields: map[string]any{"Name": "Поддержка"}},
				Command{Op: "RegionRead", ID: "demo-regions", Fields: map[string]any{}})
		case 3 * p.Plain / 4:
			missing := edit("demo-edit-missing", 0, i)
			missing.Fields["ClientUserID"] = UserID(999_999) // no such user
			out = append(out, missing)
		}
	}
	out = append(out, hot...)
	for i := range p.Profiles {
		user := p.Plain + i + 1
		c := edit(fmt.Sprintf("demo-profile-%d", i+1), user, user)
		c.Fields["Surname"] = "Петрова"
		c.Fields["Post"] = "бухгалтер"
		out = append(out, c)
	}
	return out
}

// invalid are three edits the worker's checks refuse before any call.
func invalid() []Command {
	badID := edit("demo-invalid-id", 1, 0)
	badID.Fields["ClientUserID"] = "not-a-uuid"
	long := edit("demo-invalid-long-name", 2, 0)
	long.Fields["Name"] = "Имя, которое длиннее двадцати букв"
	noMail := edit("demo-invalid-no-email", 3, 0)
	delete(noMail.Fields, "EMail")
	return []Command{badID, long, noMail}
}

// Write writes the sample as JSON lines, after a comment that says what
// it is and what the sandbox needs.
func (p Plan) Write(w io.Writer) error {
	cmds := p.Commands()
	if _, err := fmt.Fprintf(w, "# The sample of `make run`, written by `bin/demo commands`: %d commands.\n"+
		"# Needs a sandbox with %d seeded client users (connect-emulator --seed-client-users %d).\n",
		len(cmds), p.SeedUsers(), p.SeedUsers()); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, c := range cmds {
		if err := enc.Encode(c); err != nil {
			return err
		}
	}
	return nil
}
