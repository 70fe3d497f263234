# The routes of the HTTP API, one per route the Go services register, written as
# "METHOD path" with the same {param} names as the Go patterns. deploy/terraform's Go test
# checks both lists against catalog.Routes and the edge's routes, both ways round: add a
# route in Go and here together.
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
  ]
}
