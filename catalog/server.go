// Package catalog serves the gallery API over net/http: listing, searching, reading,
// updating and deleting videos, with the same paths and JSON shapes as the seed's
// gallery service.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/telemetry"
)

// Prefix is the path prefix of the gallery API. Every route is also answered with it
// stripped, as API Gateway forwards them.
const Prefix = "/api/gallery"

// Routes lists the gallery API, for documentation and for checking that the API
// Gateway in deploy/terraform routes exactly these.
var Routes = []videoforge.Route{
	{Method: "GET", Path: "/health"},
	{Method: "GET", Path: "/videos"},
	{Method: "GET", Path: "/videos/{id}"},
	{Method: "PUT", Path: "/videos/{id}"},
	{Method: "DELETE", Path: "/videos/{id}"},
	{Method: "POST", Path: "/uploads"},
	{Method: "POST", Path: "/uploads/{jobId}/complete"},
	{Method: "GET", Path: "/jobs/{id}"},
	{Method: "GET", Path: "/openapi.json"},
}

// Config holds the gallery server's settings.
type Config struct {
	// CORSOrigins are the browser origins allowed to call the API; "*" allows any.
	CORSOrigins []string
	// MaxBodyBytes bounds request bodies; larger ones are answered 413.
	MaxBodyBytes int64
	// Runtime is reported by /health.
	Runtime string
	// Uploads serves the upload and job routes and removes deleted videos' objects;
	// nil answers those routes 503.
	Uploads *Uploads
	// Playback turns thumbnail object keys into URLs; nil shows them as stored.
	Playback *Playback
}

// Server is the gallery's HTTP server.
type Server struct {
	cfg      Config
	videos   videoforge.VideoService
	verifier auth.TokenVerifier
	ready    func(context.Context) error
	log      *slog.Logger

	mux      *http.ServeMux
	routes   map[videoforge.Route]http.HandlerFunc // the API's handlers while NewServer mounts them
	handler  http.Handler
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewServer builds the gallery server. ready reports whether the dependencies answer,
// for /ready; it may be nil.
func NewServer(cfg Config, videos videoforge.VideoService, verifier auth.TokenVerifier, ready func(context.Context) error, log *slog.Logger) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Runtime == "" {
		cfg.Runtime = "go"
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, videos: videos, verifier: verifier, ready: ready, log: log, mux: http.NewServeMux()}
	s.registry = prometheus.NewRegistry()
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "videoforge_gallery_requests_total", Help: "Gallery requests by route, method and status.",
	}, []string{"route", "method", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "videoforge_gallery_request_seconds", Help: "Gallery request latency by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	s.registry.MustRegister(s.requests, s.latency)

	s.routes = map[videoforge.Route]http.HandlerFunc{
		{Method: "GET", Path: "/health"}:         s.health,
		{Method: "GET", Path: "/videos"}:         s.api(s.listVideos),
		{Method: "GET", Path: "/videos/{id}"}:    s.api(s.getVideo),
		{Method: "PUT", Path: "/videos/{id}"}:    s.api(s.updateVideo),
		{Method: "DELETE", Path: "/videos/{id}"}: s.api(s.deleteVideo),
		{Method: "GET", Path: "/openapi.json"}:   serveOpenAPI,
	}
	if cfg.Uploads != nil {
		cfg.Uploads.Mount(s)
	} else {
		for _, r := range uploadRoutes {
			s.routes[r] = s.api(s.uploadsUnavailable)
		}
	}
	allowed := map[string][]string{}
	for _, r := range Routes {
		h, ok := s.routes[r]
		if !ok {
			panic("catalog: no handler for " + r.Method + " " + r.Path)
		}
		allowed[r.Path] = append(allowed[r.Path], r.Method)
		for _, prefix := range []string{"", Prefix} {
			s.mux.Handle(r.Method+" "+prefix+r.Path, h)
		}
	}
	s.routes = nil
	for path, methods := range allowed {
		for _, prefix := range []string{"", Prefix} {
			s.mux.Handle(prefix+path, methodNotAllowed(methods))
		}
	}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /ready", s.readiness)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, videoforge.Errorf(videoforge.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path), nil)
	})
	s.handler = s.observe(s.recoverPanics(s.cors(s.measure(s.mux))))
	return s
}

// Handle adds a route outside the gallery API, such as the dev issuer's JWKS.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Registry returns the server's metrics registry, for other parts of the process to
// add their own metrics to /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Serve answers requests on ln until ctx is cancelled, then stops taking connections
// and lets requests in flight finish for at most grace.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("gallery: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("gallery: shutdown: %w", err)
	}
	return nil
}

// api adapts a handler that writes its answer on success and returns the error to
// answer otherwise.
func (s *Server) api(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, err, s.log)
		}
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Status  string `json:"status"`
		Service string `json:"service"`
		Runtime string `json:"runtime"`
	}{"ok", "gallery-service", s.cfg.Runtime})
}

func (s *Server) readiness(w http.ResponseWriter, r *http.Request) {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			writeError(w, r, videoforge.Errorf(videoforge.EUNAVAILABLE, "not ready: %s", videoforge.ErrorMessage(err)), s.log)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// pagination is the seed's pagination object.
type pagination struct {
	Total      int `json:"total"`
	Page       int `json:"page"`
	Limit      int `json:"limit"`
	TotalPages int `json:"totalPages"`
	// NextCursor pages on from this page's last video (?cursor=), absent on the last
	// page and for a search ordered by relevance.
	NextCursor string `json:"nextCursor,omitempty"`
	// TotalEstimated says that Total is an estimate: a search with more matches than
	// the store counts exactly (postgres.TotalBound). Absent when Total is exact.
	TotalEstimated bool `json:"totalEstimated,omitempty"`
}

// totalEstimator is a video store whose listing totals may be estimates, as the
// PostgreSQL store's search totals are above its bound.
type totalEstimator interface {
	FindVideosEstimated(ctx context.Context, f videoforge.VideoFilter) ([]*videoforge.Video, int, bool, error)
}

func (s *Server) listVideos(w http.ResponseWriter, r *http.Request) error {
	user, err := s.optionalUser(r)
	if err != nil {
		return err
	}
	q, err := ParseListQuery(r.URL.Query())
	if err != nil {
		return err
	}
	if user != nil {
		q.Filter.Viewer = user.ID
	}
	// One video more than the page tells whether a next page exists.
	f := q.Filter
	f.Limit++
	var videos []*videoforge.Video
	var total int
	var estimated bool
	if te, ok := s.videos.(totalEstimator); ok {
		videos, total, estimated, err = te.FindVideosEstimated(r.Context(), f)
	} else {
		videos, total, err = s.videos.FindVideos(r.Context(), f)
	}
	if err != nil {
		return err
	}
	p := pagination{Total: total, Page: q.Page, Limit: q.Limit, TotalPages: (total + q.Limit - 1) / q.Limit,
		TotalEstimated: estimated}
	if len(videos) > q.Limit {
		videos = videos[:q.Limit]
		p.NextCursor = q.NextCursor(videos[q.Limit-1])
	}
	for _, v := range videos {
		s.present(v, q.Filter.Viewer)
	}
	writeJSON(w, http.StatusOK, struct {
		Videos     []*videoforge.Video `json:"videos"`
		Pagination pagination          `json:"pagination"`
	}{videos, p})
	return nil
}

func (s *Server) getVideo(w http.ResponseWriter, r *http.Request) error {
	user, err := s.optionalUser(r)
	if err != nil {
		return err
	}
	id, err := ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	viewer := ""
	if user != nil {
		viewer = user.ID
	}
	v, err := s.videos.FindVideoByID(r.Context(), id, viewer)
	if err != nil {
		return err
	}
	if v.Visibility == videoforge.Unlisted && v.UserID != viewer && !SameShareKey(r.URL.Query().Get("key"), v.ShareKey) {
		// An unlisted video is read by its share key: its id alone, which anybody can
		// count to, finds nothing, exactly as a missing one.
		return videoforge.Errorf(videoforge.ENOTFOUND, "video %d not found", id)
	}
	s.present(v, viewer)
	writeJSON(w, http.StatusOK, v)
	return nil
}

// Bounds of the fields an owner may change.
const (
	MaxTitleLength       = 255
	MaxDescriptionLength = 10000
)

func (s *Server) updateVideo(w http.ResponseWriter, r *http.Request) error {
	user, err := s.requireUser(r)
	if err != nil {
		return err
	}
	id, err := ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	var upd videoforge.VideoUpdate
	if err := s.decodeBody(w, r, &upd); err != nil {
		return err
	}
	if err := ValidateUpdate(&upd); err != nil {
		return err
	}
	v, err := s.videos.UpdateVideo(r.Context(), id, user.ID, upd)
	if err != nil {
		return err
	}
	s.present(v, user.ID)
	writeJSON(w, http.StatusOK, v)
	return nil
}

// ValidateUpdate checks and normalises the fields of an update: a title is trimmed and
// must not be empty, lengths are bounded (in characters, as PostgreSQL counts them) and
// the visibility must be known. An update that changes nothing is EINVALID.
func ValidateUpdate(upd *videoforge.VideoUpdate) error {
	if upd.Title == nil && upd.Description == nil && upd.Visibility == nil {
		return videoforge.Errorf(videoforge.EINVALID, "nothing to update: give title, description or visibility")
	}
	if upd.Title != nil {
		t := strings.TrimSpace(*upd.Title)
		if t == "" {
			return videoforge.Errorf(videoforge.EINVALID, "title must not be empty")
		}
		if err := checkText("title", t, MaxTitleLength); err != nil {
			return err
		}
		upd.Title = &t
	}
	if upd.Description != nil {
		if err := checkText("description", *upd.Description, MaxDescriptionLength); err != nil {
			return err
		}
	}
	if upd.Visibility != nil && !upd.Visibility.Valid() {
		return videoforge.Errorf(videoforge.EINVALID, "visibility must be public, unlisted or private")
	}
	return nil
}

func checkText(field, s string, max int) error {
	if strings.ContainsRune(s, 0) {
		return videoforge.Errorf(videoforge.EINVALID, "%s must not contain NUL characters", field)
	}
	if n := len([]rune(s)); n > max {
		return videoforge.Errorf(videoforge.EINVALID, "%s must be at most %d characters, got %d", field, max, n)
	}
	return nil
}

func (s *Server) deleteVideo(w http.ResponseWriter, r *http.Request) error {
	user, err := s.requireUser(r)
	if err != nil {
		return err
	}
	id, err := ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	// The video as it was, for the objects to remove; errors are the delete's to report.
	old, _ := s.videos.FindVideoByID(r.Context(), id, user.ID)
	if err := s.videos.DeleteVideo(r.Context(), id, user.ID); err != nil {
		return err
	}
	if old == nil {
		old = &videoforge.Video{ID: id}
	}
	s.removeVideoObjects(context.WithoutCancel(r.Context()), old)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// optionalUser returns the caller if the request carries a token and nil if it does
// not. A token that is present but does not verify is an error, never anonymous.
func (s *Server) optionalUser(r *http.Request) (*auth.User, error) {
	token, ok, err := auth.BearerToken(r.Header.Get("Authorization"))
	if err != nil || !ok {
		return nil, err
	}
	return s.verifier.Verify(r.Context(), token)
}

func (s *Server) requireUser(r *http.Request) (*auth.User, error) {
	u, err := s.optionalUser(r)
	if err == nil && u == nil {
		err = videoforge.Errorf(videoforge.EUNAUTHORIZED, "this needs an Authorization: Bearer token")
	}
	return u, err
}

// decodeBody reads one JSON object into dst: unknown fields, wrong types, trailing data
// and bodies over the limit are refused with a message saying which.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		// Read to the end: a second value, or trailing bytes past the limit, is refused.
		var extra json.RawMessage
		switch derr := dec.Decode(&extra); {
		case derr == nil:
			err = errors.New("a second JSON value follows the object")
		case errors.Is(derr, io.EOF):
			return nil
		default:
			err = derr
		}
	}
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var synErr *json.SyntaxError
	switch {
	case errors.As(err, &tooBig):
		return videoforge.Errorf(videoforge.ETOOLARGE, "request body is over %d bytes", tooBig.Limit)
	case errors.As(err, &typeErr):
		return videoforge.Errorf(videoforge.EINVALID, "%s must be a %s", typeErr.Field, typeErr.Type)
	case errors.As(err, &synErr):
		return videoforge.Errorf(videoforge.EINVALID, "request body is not valid JSON (at byte %d)", synErr.Offset)
	case errors.Is(err, io.EOF):
		return videoforge.Errorf(videoforge.EINVALID, "request body is empty; send a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return videoforge.Errorf(videoforge.EINVALID, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return videoforge.Errorf(videoforge.EINVALID, "request body: %s", err.Error())
}

func methodNotAllowed(methods []string) http.HandlerFunc {
	allow := strings.Join(append(append([]string{}, methods...), "OPTIONS"), ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody(videoforge.EINVALID, r.Method+" is not allowed here; use "+allow))
	}
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func errorBody(code, msg string) any {
	return struct {
		Error errorDetail `json:"error"`
	}{errorDetail{code, msg}}
}

// writeError answers with the error's status and JSON body. Internal errors and
// unavailable dependencies are logged with their detail; clients see only the message.
func writeError(w http.ResponseWriter, r *http.Request, err error, log *slog.Logger) {
	code := videoforge.ErrorCode(err)
	status := videoforge.HTTPStatus(code)
	if log != nil && (code == videoforge.EINTERNAL || code == videoforge.EUNAVAILABLE) {
		attrs := []any{"method", r.Method, "path", r.URL.Path, "code", code, "err", err}
		if id := r.PathValue("id"); id != "" && strings.Contains(r.Pattern, "/videos/") {
			attrs = append(attrs, telemetry.VideoIDKey, id)
		} else if id := r.PathValue("id"); id != "" && strings.Contains(r.Pattern, "/jobs/") {
			attrs = append(attrs, telemetry.JobIDKey, id)
		} else if id := r.PathValue("jobId"); id != "" {
			attrs = append(attrs, telemetry.JobIDKey, id)
		}
		log.ErrorContext(r.Context(), "gallery request failed", attrs...)
	}
	if code == videoforge.EINTERNAL || code == videoforge.EUNAVAILABLE {
		telemetry.Fail(trace.SpanFromContext(r.Context()), err)
	}
	switch code {
	case videoforge.EUNAVAILABLE:
		w.Header().Set("Retry-After", "5")
	case videoforge.EUNAUTHORIZED:
		w.Header().Set("WWW-Authenticate", `Bearer realm="videoforge"`)
	}
	writeJSON(w, status, errorBody(code, videoforge.ErrorMessage(err)))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
