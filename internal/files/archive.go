package files

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Archives: the service answers the colleagues' chat history as a ZIP of
// HTML files, one per pair of people per day. Unpack stores each file as
// an object of its own, named so that a person finds a day and a pair:
// <prefix><date>/<id1>_<id2>.html.

// MaxArchiveFiles bounds the files of one archive.
const MaxArchiveFiles = 10_000

// ErrArchive marks an archive that cannot be unpacked (not a ZIP, too many
// files, a file too large, a name that is not a plain relative path).
var ErrArchive = errors.New("archive cannot be unpacked")

// Unpacked is one file of an archive, stored.
type Unpacked struct {
	// Name is the file's name in the archive.
	Name string `json:"name"`
	// Ref is its object.
	Ref Ref `json:"ref"`
}

// chatFile is the service's name of a chat-history file (third-party
// clients read it so): ChatHistory/ChatHistory_Collegue_<id1>_<id2>_<date>.html.
var chatFile = regexp.MustCompile(`^(?:.*/)?ChatHistory_Collegue_([0-9A-Za-z-]+)_([0-9A-Za-z-]+)_(\d{4}-\d{2}-\d{2})\.html$`)

// ArchiveName is the object name of an archive's file under prefix: a
// chat-history file as <date>/<id1>_<id2>.html, any other as its own
// (cleaned) path.
func ArchiveName(prefix, name string) string {
	if m := chatFile.FindStringSubmatch(name); m != nil {
		return prefix + m[3] + "/" + m[1] + "_" + m[2] + ".html"
	}
	return prefix + path.Clean(name)
}

// Unpack stores every file of the ZIP in data under prefix (see
// ArchiveName), at most MaxArchiveFiles files, each at most
// MaxObjectBytes uncompressed and all together at most maxTotal bytes
// (0: 16 times MaxObjectBytes): a ZIP bomb ends in ErrArchive, with the
// files stored so far left for the bucket's age limit. Storing an archive
// again stores the same objects again.
func (s *Store) Unpack(ctx context.Context, prefix string, data []byte, maxTotal int64) ([]Unpacked, error) {
	if maxTotal <= 0 {
		maxTotal = 16 * s.cfg.MaxObjectBytes
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("files: %w: %w", ErrArchive, err)
	}
	if len(zr.File) > MaxArchiveFiles {
		return nil, fmt.Errorf("files: %w: %d files, more than %d", ErrArchive, len(zr.File), MaxArchiveFiles)
	}
	var out []Unpacked
	left := maxTotal
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue // a directory
		}
		if !plainPath(f.Name) {
			return out, fmt.Errorf("files: %w: file name %s is not a plain relative path", ErrArchive, printable(f.Name))
		}
		rc, err := f.Open()
		if err != nil {
			return out, fmt.Errorf("files: %w: %s: %w", ErrArchive, printable(f.Name), err)
		}
		lr := &limitedReader{r: rc, left: left}
		ref, err := s.Put(ctx, ArchiveName(prefix, f.Name), lr)
		_ = rc.Close()
		switch {
		case lr.over:
			return out, fmt.Errorf("files: %w: more than %d bytes unpacked", ErrArchive, maxTotal)
		case errors.Is(err, ErrTooLarge):
			return out, fmt.Errorf("files: %w: %s: %w", ErrArchive, printable(f.Name), err)
		case err != nil:
			return out, err
		}
		left -= ref.Size
		out = append(out, Unpacked{Name: f.Name, Ref: ref})
	}
	return out, nil
}

// plainPath reports whether name is a relative path without . or ..
// parts, printable, and bounded.
func plainPath(name string) bool {
	if name == "" || len(name) > maxName/2 || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || !printableName(name) {
		return false
	}
	for part := range strings.SplitSeq(name, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}
