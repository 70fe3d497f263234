package edge_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
)

// TestNotThereLooksLikeNotYours: whatever the Authorization header (none, malformed,
// not a JWT, signed by another issuer, another user's), a private video's id and an
// id that does not exist get the same status and body; a public video is served to
// all of them, and the owner's token still opens the private one.
func TestNotThereLooksLikeNotYours(t *testing.T) {
	dsn, _, vs := catalogDB(t)
	iss, verifier := issuer(t)
	other, _ := issuer(t)
	priv := create(t, vs, newVideo("alice", videoforge.Private, videoforge.StatusReady))
	pub := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	e := startEdge(t, edgeCatalog(t, dsn), "", verifier, nil)
	alice, _ := iss.Mint("alice", time.Hour)
	bob, _ := iss.Mint("bob", time.Hour)
	forged, _ := other.Mint("alice", time.Hour)
	headers := map[string]string{
		"None":         "",
		"NotBearer":    "Basic YWxpY2U6c2VjcmV0",
		"EmptyBearer":  "Bearer ",
		"NotAJWT":      "Bearer not-a-jwt",
		"OtherIssuer":  "Bearer " + forged,
		"AnotherUser":  "Bearer " + bob,
		"TwoTokens":    "Bearer a b",
		"GarbledToken": "Bearer " + alice[:len(alice)-4] + "AAAA",
	}
	get := func(path, header string) (int, string) {
		req, _ := http.NewRequest("GET", e.url+path, nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b [512]byte
		n, _ := res.Body.Read(b[:])
		return res.StatusCode, fmt.Sprintf("%s %s", res.Header.Get("WWW-Authenticate"), b[:n])
	}
	for name, h := range headers {
		t.Run(name, func(t *testing.T) {
			for _, suffix := range []string{"", "/qualities", "/thumbnail"} {
				ps, pb := get("/"+id(priv)+suffix, h)
				ms, mb := get("/987654321"+suffix, h)
				if ps != 404 || ms != 404 || pb != mb {
					t.Fatalf("private %d %q, missing %d %q: want the same 404", ps, pb, ms, mb)
				}
				if s, b := get("/"+id(pub)+suffix, h); s != 200 {
					t.Fatalf("public: %d %s", s, b)
				}
			}
		})
	}
	if s, b := get("/"+id(priv), "Bearer "+alice); s != 200 {
		t.Fatalf("owner: %d %s", s, b)
	}
}
