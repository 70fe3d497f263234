package stack

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSettingsDeclaredOnce holds the table to its promise: one row per variable and per
// flag, every row read by some command, every name a command lists in the table.
func TestSettingsDeclaredOnce(t *testing.T) {
	envs, flags, used := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, s := range settings {
		if s.env != "" && envs[s.env] {
			t.Errorf("%s is declared twice", s.env)
		}
		if flags[s.flag] {
			t.Errorf("-%s is declared twice", s.flag)
		}
		envs[s.env], flags[s.flag] = true, true
		if s.doc == "" {
			t.Errorf("%s (-%s) has no meaning", s.env, s.flag)
		}
		valueOf(s.field(&Options{})) // panics on a field without a parser
	}
	helpOutput = io.Discard
	defer func() { helpOutput = os.Stderr }()
	for _, c := range Commands() {
		for _, n := range commandNames(c) {
			s := lookup(n)
			used[s.flag] = true
		}
		if _, err := Parse(c, "", []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s -h: %v", c, err)
		}
	}
	for f := range flags {
		if !used[f] {
			t.Errorf("-%s is read by no command", f)
		}
	}
}

func TestParse(t *testing.T) {
	t.Setenv("EDGE_STALENESS", "7s")
	t.Setenv("EDGE_MISS_RATE", "-1")
	t.Setenv("EDGE_CORS_ORIGINS", " https://a.example , ,https://b.example")
	secret := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(secret, []byte(strings.Repeat("k", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PLAYBACK_TOKEN_KEY_FILE", secret)
	o, err := Parse("edge", "", []string{"-staleness", "9s", "-trusted-proxies", "2"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Edge.Staleness != 9*time.Second {
		t.Errorf("a flag given loses to the variable: staleness %v", o.Edge.Staleness)
	}
	if o.Edge.MissRate != -1 || o.Edge.TrustedProxies != 2 {
		t.Errorf("miss rate %v, proxies %d", o.Edge.MissRate, o.Edge.TrustedProxies)
	}
	if got := strings.Join(o.Edge.CORSOrigins, "|"); got != "https://a.example|https://b.example" {
		t.Errorf("origins %q", got)
	}
	if string(o.Playback.Key.key) != strings.Repeat("k", 32) {
		t.Errorf("the key from PLAYBACK_TOKEN_KEY_FILE is %q", o.Playback.Key.key)
	}
	if o.Edge.ReadTimeout != DefaultOptions().Edge.ReadTimeout || o.Command != "edge" {
		t.Errorf("defaults lost: %+v", o.Edge)
	}
}

// TestParseErrors: a bad value names its variable, and a secret's value is never
// repeated in the error.
func TestParseErrors(t *testing.T) {
	cases := []struct {
		command, env, value, want string
	}{
		{"edge", "EDGE_STALENESS", "soon", `EDGE_STALENESS="soon"`},
		{"edge", "EDGE_MISS_BURST", "many", `EDGE_MISS_BURST="many"`},
		{"catalog", "CATALOG_RELAY", "perhaps", `CATALOG_RELAY="perhaps"`},
		{"transcoder", "TRANSCODER_LADDER", "720p", "TRANSCODER_LADDER"},
		{"transcoder", "TRANSCODER_AUDIO_BITRATE", "loud", "TRANSCODER_AUDIO_BITRATE"},
		{"edge", "PLAYBACK_TOKEN_KEY", "base64:s3cr3t-but-short", "PLAYBACK_TOKEN_KEY"},
	}
	for _, c := range cases {
		t.Run(c.env, func(t *testing.T) {
			t.Setenv(c.env, c.value)
			_, err := Parse(c.command, "", nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error naming %s", err, c.want)
			}
			if c.env == "PLAYBACK_TOKEN_KEY" && strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
	t.Setenv("DB_PASSWORD_FILE", filepath.Join(t.TempDir(), "missing"))
	if _, err := Parse("migrate", "", nil); err == nil || !strings.Contains(err.Error(), "DB_PASSWORD_FILE") {
		t.Errorf("a missing _FILE: %v", err)
	}
	if _, err := Parse("migrate", "", []string{"stray"}); err == nil || !strings.Contains(err.Error(), "stray") {
		t.Errorf("a stray argument: %v", err)
	}
}

// TestHelp: -h shows each flag with its variable and its default, and no secret.
func TestHelp(t *testing.T) {
	t.Setenv("PLAYBACK_TOKEN_KEY", strings.Repeat("x", 40))
	o := DefaultOptions()
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	for _, n := range commandNames("edge") {
		s := lookup(n)
		fs.Var(valueOf(s.field(&o)), s.flag, s.doc+envNote(s.env))
	}
	if err := fs.Parse([]string{"-playback-token-key", strings.Repeat("y", 40)}); err != nil {
		t.Fatal(err)
	}
	fs.PrintDefaults()
	for _, want := range []string{"-staleness", "($EDGE_STALENESS)", "(default 30s)", "-edge-addr", "(default :8081)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "yyyy") {
		t.Errorf("-h shows the key")
	}
}
