package catalog

import (
	"context"
	"net/http"
	"slices"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
)

// Uploads is the upload side as the server mounts it (package uploads makes it): the
// upload and job routes, what it serves beside the API (resumable uploads), and the
// removal of a deleted video's objects. Without it the upload routes answer 503.
type Uploads struct {
	// Mount adds the upload routes with HandleAPI, and anything else with Handle. The
	// server calls it once, from NewServer.
	Mount func(s *Server)
	// RemoveVideo removes a deleted video's objects and its upload's, logging what
	// fails: the video is gone from the catalog either way.
	RemoveVideo func(ctx context.Context, v *videoforge.Video)
}

// uploadRoutes are the routes of Routes that Uploads answers.
var uploadRoutes = []videoforge.Route{
	{Method: "POST", Path: "/uploads"},
	{Method: "POST", Path: "/uploads/{jobId}/complete"},
	{Method: "GET", Path: "/jobs/{id}"},
}

// HandleAPI answers route, one of Routes, with h as the server's own routes are
// answered: with and without Prefix, and h's error written with its status and JSON
// body. It is for Uploads.Mount.
func (s *Server) HandleAPI(route videoforge.Route, h func(w http.ResponseWriter, r *http.Request) error) {
	if s.routes == nil {
		panic("catalog: HandleAPI is for Uploads.Mount, called from NewServer")
	}
	if !slices.Contains(Routes, route) {
		panic("catalog: " + route.Method + " " + route.Path + " is not one of Routes")
	}
	s.routes[route] = s.api(h)
}

// User returns the signed-in caller of r, EUNAUTHORIZED without a Bearer token.
func (s *Server) User(r *http.Request) (*auth.User, error) { return s.requireUser(r) }

// Verify checks a Bearer token with the server's verifier, for handlers that read the
// token themselves.
func (s *Server) Verify(ctx context.Context, token string) (*auth.User, error) {
	return s.verifier.Verify(ctx, token)
}

// DecodeBody reads r's body, one JSON object, into dst as the server's routes do:
// unknown fields, wrong types, trailing data and bodies over the limit are refused.
func (s *Server) DecodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	return s.decodeBody(w, r, dst)
}

// WriteJSON answers with status and v as JSON, as the server's routes do.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

// uploadsUnavailable answers the upload routes of a server without Uploads, after the
// caller's token as they would.
func (s *Server) uploadsUnavailable(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireUser(r); err != nil {
		return err
	}
	return videoforge.Errorf(videoforge.EUNAVAILABLE, "uploads are not configured on this server")
}

// removeVideoObjects removes a deleted video's objects and its upload.
func (s *Server) removeVideoObjects(ctx context.Context, v *videoforge.Video) {
	if s.cfg.Uploads != nil && s.cfg.Uploads.RemoveVideo != nil {
		s.cfg.Uploads.RemoveVideo(ctx, v)
	}
}
