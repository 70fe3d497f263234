package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func site(t *testing.T, cfg Config) http.Handler {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Mount(mux.Handle)
	return mux
}

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPages: every page route answers the shell with its settings, a policy that
// allows its import map by hash and only the configured origins, and framing only for
// the embed.
func TestPages(t *testing.T) {
	h := site(t, Config{StreamAPI: "http://127.0.0.1:8081/api/stream", MediaOrigins: []string{"http://127.0.0.1:8081"}, DevSignIn: "/dev/signin"})
	for _, path := range []string{"/", "/mine", "/upload", "/watch/12", "/embed/12", "/signin", "/signin/callback"} {
		res := get(t, h, path)
		page := body(t, res)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		conf := regexp.MustCompile(`(?s)<script type="application/json" id="vf-config">(.*?)</script>`).FindStringSubmatch(page)
		var c clientConfig
		if conf == nil || json.Unmarshal([]byte(conf[1]), &c) != nil {
			t.Fatalf("%s: no config in %s", path, page)
		}
		if c.StreamAPI != "http://127.0.0.1:8081/api/stream" || c.Auth.Mode != "dev" || c.Auth.DevSignIn != "/dev/signin" || c.GalleryAPI != "/api/gallery" {
			t.Errorf("%s: config %+v", path, c)
		}
		im := regexp.MustCompile(`(?s)<script type="importmap">(.*?)</script>`).FindStringSubmatch(page)
		if im == nil {
			t.Fatalf("%s: no import map", path)
		}
		sum := sha256.Sum256([]byte(im[1]))
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
			t.Errorf("%s: the policy %q does not allow the import map as served", path, csp)
		}
		for _, want := range []string{"connect-src 'self' http://127.0.0.1:8081", "media-src 'self' blob: http://127.0.0.1:8081", "object-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: policy %q lacks %q", path, csp, want)
			}
		}
		framing := strings.Contains(csp, "frame-ancestors *")
		if framing != (path == "/embed/12") || (res.Header.Get("X-Frame-Options") == "DENY") == (path == "/embed/12") {
			t.Errorf("%s: framing policy %q, X-Frame-Options %q", path, csp, res.Header.Get("X-Frame-Options"))
		}
		// Every asset the shell names is served under that name, for good.
		names := []string{c.Scripts["hls"], c.Scripts["tus"]}
		for _, m := range regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(page, -1) {
			names = append(names, strings.ReplaceAll(m[1], "&amp;", "&"))
		}
		for _, name := range names {
			a := get(t, h, name)
			if a.StatusCode != 200 || !strings.Contains(a.Header.Get("Cache-Control"), "immutable") {
				t.Errorf("%s: asset %q: %d %q", path, name, a.StatusCode, a.Header.Get("Cache-Control"))
			}
		}
	}
	if got := get(t, h, "/watch/12/extra").StatusCode; got != 404 {
		t.Errorf("/watch/12/extra: %d", got)
	}
}

// TestAssets: hashed names are cached for good, others revalidated; gzip for clients
// that take it; 304 on a matching ETag; 404 for what is not there.
func TestAssets(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := site(t, Config{})
	a := s.assets["app.js"]
	res := get(t, h, "/assets/app.js?v="+a.hash, "Accept-Encoding", "gzip, br")
	if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("hashed asset: %v", res.Header)
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, a.body) {
		t.Error("the gzip form is not the file")
	}
	res = get(t, h, "/assets/app.js")
	if res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("Content-Encoding") != "" || body(t, res) != string(a.body) {
		t.Errorf("unhashed asset: %v", res.Header)
	}
	if got := get(t, h, "/assets/app.js", "If-None-Match", res.Header.Get("ETag")).StatusCode; got != 304 {
		t.Errorf("revalidation: %d", got)
	}
	for _, p := range []string{"/assets/nope.js", "/assets/../web.go", "/assets/vendor/"} {
		if got := get(t, h, p).StatusCode; got != 404 && got != 301 && got != 307 {
			t.Errorf("%s: %d", p, got)
		}
	}
}

// TestCognitoConfig: with a hosted UI domain the pages sign in through it; a domain
// that is not https is refused at start.
func TestCognitoConfig(t *testing.T) {
	h := site(t, Config{CognitoDomain: "https://vf.auth.eu-west-1.amazoncognito.com/", ClientID: "abc"})
	res := get(t, h, "/signin")
	page := body(t, res)
	if !strings.Contains(page, `"mode":"cognito"`) || !strings.Contains(page, `"domain":"https://vf.auth.eu-west-1.amazoncognito.com"`) || !strings.Contains(page, `"clientId":"abc"`) {
		t.Errorf("config: %s", page)
	}
	if !strings.Contains(res.Header.Get("Content-Security-Policy"), "connect-src 'self' https://vf.auth.eu-west-1.amazoncognito.com") {
		t.Errorf("policy %q does not allow the token endpoint", res.Header.Get("Content-Security-Policy"))
	}
	if _, err := New(Config{CognitoDomain: "http://vf.auth", ClientID: "abc"}); err == nil || !strings.Contains(err.Error(), "COGNITO_DOMAIN") {
		t.Errorf("plain http domain: %v", err)
	}
}

// TestDevSignIn: a user name gets a token; a bad body or name is 400, a minting
// failure 503, all as JSON errors.
func TestDevSignIn(t *testing.T) {
	h := DevSignIn(func(user string, ttl time.Duration) (string, error) {
		if user == "broken" {
			return "", errors.New("no key")
		}
		return "token-of-" + user, nil
	}, time.Hour)
	for _, c := range []struct {
		body string
		code int
		want string
	}{
		{`{"user":"alice"}`, 200, `"token":"token-of-alice"`},
		{`{"user":""}`, 400, `"code":"invalid"`},
		{`{"user":"a b"}`, 400, `"code":"invalid"`},
		{`{"user":"` + strings.Repeat("a", 65) + `"}`, 400, `"code":"invalid"`},
		{`{"user":"alice","admin":true}`, 400, `"code":"invalid"`},
		{`not json`, 400, `"code":"invalid"`},
		{`{"user":"` + strings.Repeat("a", 5000) + `"}`, 400, `"code":"invalid"`},
		{`{"user":"broken"}`, 503, `"code":"unavailable"`},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/dev/signin", strings.NewReader(c.body)))
		if w.Code != c.code || !strings.Contains(w.Body.String(), c.want) || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%.40s: %d %s", c.body, w.Code, w.Body.String())
		}
	}
}

// TestVendored: the third-party modules are the files scripts/web-vendor.sh copied
// from npm at the versions of package-lock.json, unchanged.
func TestVendored(t *testing.T) {
	sums, err := os.ReadFile(filepath.Join("assets", "vendor", "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(sums)), "\n")
	if len(lines) != 2 {
		t.Fatalf("SHA256SUMS: %q", sums)
	}
	for _, line := range lines {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", line)
		}
		b, err := os.ReadFile(filepath.Join("assets", "vendor", name))
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s was changed after scripts/web-vendor.sh copied it", name)
		}
	}
	lock, err := os.ReadFile("package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, pin := range []string{`"node_modules/hls.js": {`, `"version": "1.7.4"`, `"node_modules/tus-js-client": {`, `"version": "4.3.1"`} {
		if !strings.Contains(string(lock), pin) {
			t.Errorf("package-lock.json lacks %s", pin)
		}
	}
}
