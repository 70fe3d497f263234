package web

import (
	"encoding/json"
	"net/http"
	"regexp"
	"time"
)

// userName is what the dev sign-in takes as a user id.
var userName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// DevSignIn is the dev stack's sign-in: POST {"user":"alice"} answers
// {"token","user","expiresAt"}, a token of the dev issuer for that user, living ttl.
// It exists only where the dev issuer does; anyone who reaches it can be anyone.
func DevSignIn(mint func(user string, ttl time.Duration) (string, error), ttl time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			User string `json:"user"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "invalid", "want a JSON body {\"user\":\"<name>\"}")
			return
		}
		if !userName.MatchString(req.User) {
			writeError(w, http.StatusBadRequest, "invalid", "a user name is 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
			return
		}
		token, err := mint(req.User, ttl)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "unavailable", "no token could be minted")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(map[string]any{"token": token, "user": req.User, "expiresAt": time.Now().Add(ttl).UTC().Format(time.RFC3339)})
	})
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}
