package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"
)

//go:embed assets page.html
var files embed.FS

// Config says where the pages find the APIs and how users sign in.
type Config struct {
	// GalleryAPI is the gallery API's base as the pages call it; default /api/gallery
	// (the same origin).
	GalleryAPI string
	// StreamAPI is the streaming API's base as browsers reach it: /api/stream behind one
	// origin (API Gateway), or the edge's own origin (dev: http://127.0.0.1:8081/api/stream),
	// which answers CORS.
	StreamAPI string
	// MediaOrigins are the origins playlists, segments and images come from (the media
	// server or the CDN), allowed by the pages' Content-Security-Policy.
	MediaOrigins []string
	// DevSignIn is the path of the dev issuer's token route (DevSignIn); when set, the
	// sign-in page asks for a user name and mints a dev token.
	DevSignIn string
	// CognitoDomain (https://<prefix>.auth.<region>.amazoncognito.com) and ClientID sign
	// users in through Cognito's hosted UI: the authorization-code flow with PKCE.
	CognitoDomain, ClientID string
}

// importMapMark stands for the import map in the template.
const importMapMark = "IMPORT-MAP"

// clientConfig is what the pages read from the shell, as JSON.
type clientConfig struct {
	GalleryAPI string     `json:"galleryApi"`
	StreamAPI  string     `json:"streamApi"`
	Auth       clientAuth `json:"auth"`
	// Scripts are the third-party modules by their hashed URLs, which the pages load
	// when they need them: hls.js for a player, tus-js-client for an upload.
	Scripts map[string]string `json:"scripts"`
}

type clientAuth struct {
	Mode      string `json:"mode"` // "dev", "cognito" or "none"
	DevSignIn string `json:"devSignIn,omitempty"`
	Domain    string `json:"domain,omitempty"`
	ClientID  string `json:"clientId,omitempty"`
	Scope     string `json:"scope,omitempty"`
}

// asset is one embedded file, with its gzip form and its content hash, by which the
// pages name it (/assets/<name>?v=<hash>) so that it can be cached for good.
type asset struct {
	body, gz    []byte
	hash, ctype string
}

// Site serves the pages and their assets.
type Site struct {
	cfg    Config
	assets map[string]*asset
	shell  map[string][]byte // the rendered shell per kind of page ("app", "embed")
	csp    map[string]string // and its Content-Security-Policy
}

// New renders the pages' shells for cfg.
func New(cfg Config) (*Site, error) {
	if cfg.GalleryAPI == "" {
		cfg.GalleryAPI = "/api/gallery"
	}
	if cfg.StreamAPI == "" {
		cfg.StreamAPI = "/api/stream"
	}
	s := &Site{cfg: cfg, assets: map[string]*asset{}, shell: map[string][]byte{}, csp: map[string]string{}}
	if err := s.loadAssets(); err != nil {
		return nil, err
	}
	tpl, err := template.ParseFS(files, "page.html")
	if err != nil {
		return nil, fmt.Errorf("web: page template: %w", err)
	}
	auth := clientAuth{Mode: "none"}
	switch {
	case cfg.DevSignIn != "":
		auth = clientAuth{Mode: "dev", DevSignIn: cfg.DevSignIn}
	case cfg.CognitoDomain != "" && cfg.ClientID != "":
		if u, err := url.Parse(cfg.CognitoDomain); err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("web: COGNITO_DOMAIN %q: want https://<prefix>.auth.<region>.amazoncognito.com", cfg.CognitoDomain)
		}
		auth = clientAuth{Mode: "cognito", Domain: strings.TrimSuffix(cfg.CognitoDomain, "/"), ClientID: cfg.ClientID, Scope: "openid email profile"}
	}
	scripts := map[string]string{}
	for name, file := range map[string]string{"hls": "vendor/hls.light.min.js", "tus": "vendor/tus.min.js"} {
		if scripts[name], err = s.assetURL(file); err != nil {
			return nil, err
		}
	}
	conf, err := json.Marshal(clientConfig{GalleryAPI: cfg.GalleryAPI, StreamAPI: cfg.StreamAPI, Auth: auth, Scripts: scripts})
	if err != nil {
		return nil, err
	}
	importMap, err := s.importMap()
	if err != nil {
		return nil, err
	}
	for _, kind := range []string{"app", "embed"} {
		var b bytes.Buffer
		if err := tpl.Execute(&b, map[string]any{
			"Kind":      kind,
			"Config":    template.JS(conf),
			"ImportMap": importMapMark,
			"Asset":     s.assetURL,
		}); err != nil {
			return nil, fmt.Errorf("web: render %s: %w", kind, err)
		}
		// The import map goes in as it is hashed: html/template would escape it, as it
		// does any script whose type it does not know.
		s.shell[kind] = bytes.Replace(b.Bytes(), []byte(importMapMark), importMap, 1)
		s.csp[kind] = s.policy(kind, importMap, auth)
	}
	return s, nil
}

// loadAssets reads the embedded assets with their hashes and gzip forms.
func (s *Site) loadAssets() error {
	return fs.WalkDir(files, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, hash: hex.EncodeToString(sum[:6]), ctype: mime.TypeByExtension(path.Ext(p))}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(body)
		zw.Close()
		if gz.Len() < len(body) {
			a.gz = gz.Bytes()
		}
		s.assets[strings.TrimPrefix(p, "assets/")] = a
		return nil
	})
}

// assetURL names an asset with its hash, for the shells.
func (s *Site) assetURL(name string) (string, error) {
	a, ok := s.assets[name]
	if !ok {
		return "", fmt.Errorf("no asset %q", name)
	}
	return "/assets/" + name + "?v=" + a.hash, nil
}

// importMap maps every module the pages import to its hashed URL, so that modules
// importing each other by plain relative paths are cached for good too.
func (s *Site) importMap() ([]byte, error) {
	imports := map[string]string{}
	names := make([]string, 0, len(s.assets))
	for name := range s.assets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasSuffix(name, ".js") && !strings.HasPrefix(name, "vendor/") {
			u, _ := s.assetURL(name)
			imports["/assets/"+name] = u
		}
	}
	return json.Marshal(map[string]any{"imports": imports})
}

// policy is a page's Content-Security-Policy: its own scripts (and its import map, by
// hash), the APIs, the media origins, Cognito's token endpoint; an embed may be framed
// by any site, the other pages by none.
func (s *Site) policy(kind string, importMap []byte, auth clientAuth) string {
	sum := sha256.Sum256(importMap)
	connect := []string{"'self'"}
	if o := origin(s.cfg.StreamAPI); o != "" {
		connect = append(connect, o)
	}
	if auth.Mode == "cognito" {
		connect = append(connect, auth.Domain)
	}
	media := []string{"'self'", "blob:"}
	for _, m := range s.cfg.MediaOrigins {
		if o := origin(m); o != "" {
			media = append(media, o)
			connect = append(connect, o)
		}
	}
	connect = slices.Compact(connect)
	frame := "'none'"
	if kind == "embed" {
		frame = "*"
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'",
		"style-src 'self'",
		"img-src " + strings.Join(append(media, "data:"), " "),
		"media-src " + strings.Join(media, " "),
		"connect-src " + strings.Join(connect, " "),
		"worker-src 'self' blob:",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors " + frame,
	}, "; ")
}

// origin is the scheme and host of an absolute URL, "" for a path.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// Mount adds the pages and assets with handle (a ServeMux's Handle).
func (s *Site) Mount(handle func(pattern string, h http.Handler)) {
	for _, r := range Routes {
		var h http.Handler
		switch r.Path {
		case "/assets/{file...}":
			h = http.HandlerFunc(s.serveAsset)
		case "/embed/{id}":
			h = s.servePage("embed")
		default:
			h = s.servePage("app")
		}
		handle(r.Method+" "+r.Path, h)
	}
}

// servePage answers a page: the shell, whose modules render it from the URL.
func (s *Site) servePage(kind string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", s.csp[kind])
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		if kind != "embed" {
			h.Set("X-Frame-Options", "DENY")
		}
		w.Write(s.shell[kind])
	})
}

// serveAsset answers an asset: for good when asked by its hash, otherwise revalidated by
// ETag; gzipped for clients that take it.
func (s *Site) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := s.assets[r.PathValue("file")]
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	h := w.Header()
	etag := `"` + a.hash + `"`
	h.Set("ETag", etag)
	h.Set("Content-Type", a.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Vary", "Accept-Encoding")
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if match := r.Header.Get("If-None-Match"); match == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.TrimSpace(q) != "q=0" {
			return true
		}
	}
	return false
}
