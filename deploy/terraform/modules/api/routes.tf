# The routes of the HTTP API, one per route the Go services register, written as
# "METHOD path" with the same {param} names as the Go patterns. deploy/terraform's Go test
# checks these lists against catalog.Routes, tus.Routes, edge.Routes and web.Routes, both
# ways round: add a route in Go and here together.
locals {
  # catalog: the gallery API (catalog.Prefix + catalog.Routes).
  gallery_routes = [
    "GET /api/gallery/health",
    "GET /api/gallery/videos",
    "GET /api/gallery/videos/{id}",
    "PUT /api/gallery/videos/{id}",
    "DELETE /api/gallery/videos/{id}",
    "POST /api/gallery/uploads",
    "POST /api/gallery/uploads/{jobId}/complete",
    "GET /api/gallery/jobs/{id}",
    "GET /api/gallery/openapi.json",
  ]

  # catalog: resumable uploads (tus.Path + tus.Routes under catalog.Prefix). An upload's
  # id holds a slash ("<jobId>/source+<multipart upload id>"), hence the greedy path.
  # A PATCH goes through API Gateway whole: at most 10 MB each (videoforge upload sends
  # 8 MiB).
  tus_routes = [
    "POST /api/gallery/tus",
    "HEAD /api/gallery/tus/{id+}",
    "PATCH /api/gallery/tus/{id+}",
    "DELETE /api/gallery/tus/{id+}",
  ]

  # edge: the streaming API.
  stream_routes = [
    "GET /api/stream/health",
    "GET /api/stream/{videoId}",
    "GET /api/stream/{videoId}/qualities",
    "GET /api/stream/{videoId}/thumbnail",
    # A literal segment: API Gateway prefers it to "{videoId}".
    "GET /api/stream/openapi.json",
  ]

  # gallery: the browser app's pages and assets (web.Routes), at the site's root, served
  # by the catalog like /api/gallery (the load balancer's "pages" rules send these paths
  # to it). Public pages: no authorizer; the pages call the APIs with the user's token.
  # "{$}" (the root only) becomes "GET /", "{file...}" the greedy "{file+}".
  page_routes = [
    "GET /",
    "GET /mine",
    "GET /upload",
    "GET /watch/{id}",
    "GET /embed/{id}",
    "GET /signin",
    "GET /signin/callback",
    "GET /assets/{file+}",
  ]
}
