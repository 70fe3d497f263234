package auth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
)

func TestDevIssuer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := auth.LoadIssuer(dir); err == nil || !strings.Contains(err.Error(), "videoforge dev -data") {
		t.Fatalf("LoadIssuer without a key: %v, want advice to run videoforge dev", err)
	}
	iss, err := auth.LoadOrCreateIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, auth.DevKeyFile): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, mode %v, want %v", path, err, fi.Mode().Perm(), want)
		}
	}
	again, err := auth.LoadOrCreateIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := auth.LoadIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if iss.KeyID() == "" || again.KeyID() != iss.KeyID() || loaded.KeyID() != iss.KeyID() {
		t.Fatalf("kids %q, %q, %q: want one, stable", iss.KeyID(), again.KeyID(), loaded.KeyID())
	}

	srv := httptest.NewServer(iss.JWKSHandler())
	t.Cleanup(srv.Close)
	v, err := auth.NewVerifier(t.Context(), auth.DevConfig(srv.URL), srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := loaded.Mint("alice", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if want := (auth.User{ID: "alice", Username: "alice", TokenUse: "access"}); *u != want {
		t.Errorf("user %+v, want %+v", *u, want)
	}

	short, err := iss.Mint("bob", time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	// exp is whole seconds and the verifier allows 30s of skew, so wait past both.
	v2, err := auth.NewVerifier(t.Context(), auth.Config{JWKSURL: srv.URL, Issuer: auth.DevIssuer, ClientID: auth.DevClientID, Leeway: time.Nanosecond}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, func() error {
		_, err := v2.Verify(t.Context(), short)
		if videoforge.ErrorMessage(err) != "token expired" {
			return err
		}
		return nil
	})
	if _, err := iss.Mint("", time.Minute); err == nil {
		t.Error("minted a token without a user")
	}
}

func TestJWKSHandler(t *testing.T) {
	iss, err := auth.LoadOrCreateIssuer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(iss.JWKSHandler())
	t.Cleanup(srv.Close)

	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=300") {
		t.Errorf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("keys %v", set.Keys)
	}
	k := set.Keys[0]
	if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["kid"] != iss.KeyID() || k["d"] != nil || k["p"] != nil {
		t.Errorf("published key %v", k)
	}
	if string(iss.JWKS()) == "" {
		t.Error("JWKS is empty")
	}

	post, err := srv.Client().Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d", post.StatusCode)
	}
}
