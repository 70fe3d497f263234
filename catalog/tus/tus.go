// Package tus is package uploads/tus under the path it had before it moved there.
//
// Deprecated: import github.com/videoforge/videoforge/uploads/tus.
package tus

import "github.com/videoforge/videoforge/uploads/tus"

// Path is where the gallery takes tus uploads, under its prefix and without it.
const Path = tus.Path

// Routes lists the tus endpoint, relative to Path.
var Routes = tus.Routes

// The types of package uploads/tus.
type (
	Route   = tus.Route
	Jobs    = tus.Jobs
	Objects = tus.Objects
	Bucket  = tus.Bucket
	S3      = tus.S3
	Config  = tus.Config
	Server  = tus.Server
)

// New returns the tus server (tus.New).
func New(cfg Config) (*Server, error) { return tus.New(cfg) }
