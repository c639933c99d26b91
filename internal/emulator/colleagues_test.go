package emulator_test

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"io"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// TestColleaguesChatIsAZipOfHTMLFiles: GetHistoryOfColleaguesChat
// answers a base64 ZIP with one HTML file per pair of specialists per
// day, named as third-party clients read them, the files Server's
// ColleaguesChat gives; the same seed, the same bytes; a period longer
// than the bound is refused.
func TestColleaguesChatIsAZipOfHTMLFiles(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{SeedHistory: 30, Seed: 5})
	const op = "GetHistoryOfColleaguesChat"
	name := regexp.MustCompile(`^ChatHistory/ChatHistory_Collegue_[0-9a-f-]{36}_[0-9a-f-]{36}_\d{4}-\d{2}-\d{2}\.html$`)
	files := 0
	for day := 1; day <= 10; day++ {
		from := t0.AddDate(0, 0, -day)
		resp := b.mustCall(t, op, period(from, from.AddDate(0, 0, 1), msk))
		require.Equal(t, soap.KindBinary, resp.Data.Kind)
		raw, err := base64.StdEncoding.DecodeString(resp.Data.Text)
		require.NoError(t, err)
		zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
		require.NoError(t, err)
		want := b.srv.ColleaguesChat(from, from.AddDate(0, 0, 1))
		require.Len(t, zr.File, len(want))
		for _, f := range zr.File {
			require.Regexp(t, name, f.Name)
			r, err := f.Open()
			require.NoError(t, err)
			body, err := io.ReadAll(r)
			require.NoError(t, err)
			require.Equal(t, want[f.Name], string(body))
			require.Contains(t, string(body), "<html>")
			files++
		}
		again := b.mustCall(t, op, period(from, from.AddDate(0, 0, 1), msk))
		require.Equal(t, resp.Data.Text, again.Data.Text, "the same bytes each time")
	}
	require.Greater(t, files, 5, "about 1.5 pairs a day")

	_, err := b.call(t, op, period(t0.AddDate(0, 0, -3), t0.AddDate(0, 0, -1), msk))
	var fe *soap.FaultError
	require.ErrorAs(t, err, &fe, "two days: longer than the bound")
	require.Contains(t, fe.Reason, "may not exceed")

	empty := setup(t, emulator.Config{})
	resp := empty.mustCall(t, op, period(t0.Add(-time.Hour), t0, msk))
	raw, err := base64.StdEncoding.DecodeString(resp.Data.Text)
	require.NoError(t, err)
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	require.NoError(t, err)
	require.Empty(t, zr.File, "no history, an empty archive")
}
