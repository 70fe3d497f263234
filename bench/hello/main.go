// Command hello is the fasthttp hello-world server that the edge's load benchmark is
// measured against: the ceiling of the machine for a fasthttp answer.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	body := []byte(`{"hello":"world"}`)
	ct := []byte("application/json; charset=utf-8")
	err := fasthttp.ListenAndServe(*addr, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.SetContentTypeBytes(ct)
		ctx.Response.SetBodyRaw(body)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}
