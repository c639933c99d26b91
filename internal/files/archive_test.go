package files_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/files"
)

func zipOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, data := range files {
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = w.Write(data)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return b.Bytes()
}

// TestUnpack stores a chat-history archive as one object per HTML file,
// named by day and pair, and refuses what is not a plain archive.
func TestUnpack(t *testing.T) {
	t.Parallel()
	s := store(t, 1<<20)
	ctx := context.Background()
	a, b := "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
	chat := map[string][]byte{
		"ChatHistory/ChatHistory_Collegue_" + a + "_" + b + "_2026-11-30.html": []byte("<html>30</html>"),
		"ChatHistory/ChatHistory_Collegue_" + a + "_" + b + "_2026-12-01.html": []byte("<html>1</html>"),
		"ChatHistory/readme.txt": []byte("other"),
	}
	got, err := s.Unpack(ctx, "history/chat/", zipOf(t, chat), 0)
	require.NoError(t, err)
	require.Len(t, got, 3)
	names := map[string]string{}
	for _, u := range got {
		names[u.Name] = u.Ref.Name
		r, err := s.Open(ctx, u.Ref)
		require.NoError(t, err)
		body, err := io.ReadAll(r)
		require.NoError(t, err)
		require.Equal(t, chat[u.Name], body)
	}
	require.Equal(t, "history/chat/2026-11-30/"+a+"_"+b+".html", names["ChatHistory/ChatHistory_Collegue_"+a+"_"+b+"_2026-11-30.html"])
	require.Equal(t, "history/chat/ChatHistory/readme.txt", names["ChatHistory/readme.txt"])

	for name, c := range map[string]struct {
		data     []byte
		maxTotal int64
	}{
		"not a zip":           {data: []byte("PK but not really")},
		"a path out":          {data: zipOf(t, map[string][]byte{"../../etc/passwd": []byte("x")})},
		"an absolute path":    {data: zipOf(t, map[string][]byte{"/etc/passwd": []byte("x")})},
		"a bomb":              {data: zipOf(t, map[string][]byte{"zeros.html": make([]byte, 8<<20)}), maxTotal: 2 << 20},
		"a file over the max": {data: zipOf(t, map[string][]byte{"big.html": make([]byte, 2<<20)})},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Unpack(ctx, "x/", c.data, c.maxTotal)
			require.ErrorIs(t, err, files.ErrArchive)
		})
	}
}
