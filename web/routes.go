// Package web is the browser app: the gallery, watch, embed, upload, manage and sign-in
// pages, served by the gallery from assets embedded in the binary.
package web

import "github.com/videoforge/videoforge"

// Routes lists the pages and their assets, at the site's root (beside the gallery API's
// /api/gallery), for mounting and for the test that holds API Gateway to them.
var Routes = []videoforge.Route{
	{Method: "GET", Path: "/{$}"},
	{Method: "GET", Path: "/mine"},
	{Method: "GET", Path: "/upload"},
	{Method: "GET", Path: "/watch/{id}"},
	{Method: "GET", Path: "/embed/{id}"},
	{Method: "GET", Path: "/signin"},
	{Method: "GET", Path: "/signin/callback"},
	{Method: "GET", Path: "/assets/{file...}"},
}
