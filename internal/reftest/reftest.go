// Package reftest finds the third-party reference material (the real WSDL
// and recorded responses of PartnerWebAPI2) that some tests read in place.
// The material is never copied into the repository; tests that need it skip,
// saying why, when it is absent.
package reftest

import (
	"os"
	"path/filepath"
	"testing"
)

// EnvDir names the environment variable that points at the reference
// folder (the one holding PartnerWebAPI2.wsdl and recorded/). When it is
// unset, the folder is looked for as ../shared/reference beside the module.
const EnvDir = "CONNECT_REFERENCE_DIR"

// Dir returns the reference folder, or skips t when it cannot be found.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(EnvDir); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		t.Skipf("reference material not found: %s=%q is not a folder", EnvDir, d)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Skipf("reference material not found: %v", err)
	}
	d := filepath.Join(root, "..", "shared", "reference")
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		t.Skipf("reference material not found at %s (third-party WSDL and recordings are read in place, never copied; set %s to run these checks)", d, EnvDir)
	}
	return d
}

// File returns the path of name inside the reference folder, or skips t
// when the file is absent.
func File(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Dir(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("reference file %s is absent: %v", p, err)
	}
	return p
}

// moduleRoot walks up from the working directory (a package folder under
// go test) to the folder holding go.mod.
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", os.ErrNotExist
		}
		d = parent
	}
}
