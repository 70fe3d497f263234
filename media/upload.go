package media

import "github.com/valyala/fasthttp"

// Expect decides, for a request that sent Expect: 100-continue, whether its body may
// come: an upload PUT that would be refused gets its error now, before the client
// sends the file (uploads.MediaPut.Expect). It returns fasthttp.StatusContinue to let
// the body come, or the status of the error it wrote into the response.
func (s *Server) Expect(ctx *fasthttp.RequestCtx) int { return s.put.Expect(ctx) }

// upload answers PUT /uploads/<jobId>/source?expires&signature (uploads.MediaPut).
func (s *Server) upload(ctx *fasthttp.RequestCtx) { s.put.Serve(ctx) }
