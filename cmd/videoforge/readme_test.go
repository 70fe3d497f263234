package main

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/videoforge/videoforge/stack"
)

// readEnv is what the roles read from the environment outside their flags.
var readEnv = []string{
	"LOG_LEVEL",    // main.go, before any command
	"NATS_CA_FILE", // bus.TLSOptions, for every NATS connection
}

// TestREADMEConfiguration holds the README to the configuration table: every
// environment variable a command reads is in one of its tables, and every variable its
// tables name is read by some command, so that neither drifts from the other.
func TestREADMEConfiguration(t *testing.T) {
	read := map[string][]string{} // variable -> commands
	for _, c := range stack.Commands() {
		for _, v := range stack.Variables(c) {
			read[v] = append(read[v], c)
		}
	}
	// The embedded S3 gateway of other tests moves the working folder: find the README
	// from this file's own path.
	_, self, _, _ := runtime.Caller(0)
	readme, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	row := regexp.MustCompile("(?m)^\\| ([^|]*)\\|")
	name := regexp.MustCompile("`([A-Z][A-Z0-9]*_[A-Z0-9_]+)`") // variables have an underscore; stream names do not
	for _, r := range row.FindAllStringSubmatch(string(readme), -1) {
		for _, n := range name.FindAllStringSubmatch(r[1], -1) {
			documented[n[1]] = true
		}
	}
	var missing, stale []string
	for env, cmds := range read {
		if !documented[env] && !documented[strings.TrimSuffix(env, "_FILE")] {
			missing = append(missing, env+" ("+strings.Join(cmds, ", ")+")")
		}
	}
	for env := range documented {
		base := strings.TrimSuffix(env, "_FILE")
		if read[env] == nil && read[base] == nil && !slices.Contains(readEnv, env) {
			stale = append(stale, env)
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	if len(missing) > 0 {
		t.Errorf("read by a command but in no README table: %s", strings.Join(missing, "; "))
	}
	if len(stale) > 0 {
		t.Errorf("in a README table but read by no command: %s", strings.Join(stale, ", "))
	}
}
