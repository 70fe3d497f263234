package web_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/stack/stacktest"
)

// hostedUI is an OAuth 2.0 authorization server shaped like Cognito's hosted UI, for the
// pages' sign-in: /oauth2/authorize signs "carol" in at once and sends the browser back
// with a code; /oauth2/token trades the code for an access token only with the PKCE
// verifier of the challenge the authorization named; /logout sends the browser back.
type hostedUI struct {
	t        *testing.T
	issuer   *auth.Issuer
	clientID string
	callback string // the only redirect_uri allowed

	mu         sync.Mutex
	challenges map[string]string // code → S256 challenge
	exchanges  int
	refused    []string
}

func (u *hostedUI) traded() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.exchanges
}

func (u *hostedUI) refuse(w http.ResponseWriter, why string) {
	u.mu.Lock()
	u.refused = append(u.refused, why)
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `{"error":"invalid_request","error_description":%q}`, why)
}

func (u *hostedUI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/oauth2/authorize":
		q := r.URL.Query()
		switch {
		case q.Get("response_type") != "code":
			u.refuse(w, "response_type is not code")
		case q.Get("client_id") != u.clientID:
			u.refuse(w, "unknown client_id")
		case q.Get("redirect_uri") != u.callback:
			u.refuse(w, "redirect_uri "+q.Get("redirect_uri")+" is not registered")
		case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
			u.refuse(w, "PKCE with S256 is required")
		case !strings.Contains(" "+q.Get("scope")+" ", " openid "):
			u.refuse(w, "scope lacks openid")
		case q.Get("state") == "":
			u.refuse(w, "no state")
		default:
			code := fmt.Sprintf("code-%d", time.Now().UnixNano())
			u.mu.Lock()
			u.challenges[code] = q.Get("code_challenge")
			u.mu.Unlock()
			http.Redirect(w, r, u.callback+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
		}
	case "/oauth2/token":
		w.Header().Set("Access-Control-Allow-Origin", "*") // as Cognito's token endpoint answers
		if r.Method != http.MethodPost || r.ParseForm() != nil {
			u.refuse(w, "want a form POST")
			return
		}
		u.mu.Lock()
		u.exchanges++
		challenge, ok := u.challenges[r.PostForm.Get("code")]
		delete(u.challenges, r.PostForm.Get("code")) // a code is good once
		u.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		switch {
		case r.PostForm.Get("grant_type") != "authorization_code":
			u.refuse(w, "grant_type")
		case !ok:
			u.refuse(w, "unknown or used code")
		case r.PostForm.Get("client_id") != u.clientID || r.PostForm.Get("redirect_uri") != u.callback:
			u.refuse(w, "client or redirect_uri differ from the authorization's")
		case base64.RawURLEncoding.EncodeToString(sum[:]) != challenge:
			u.refuse(w, "code_verifier does not match the challenge")
		default:
			token, err := u.issuer.Mint("carol", time.Hour)
			if err != nil {
				u.refuse(w, err.Error())
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":%q,"id_token":"unused","token_type":"Bearer","expires_in":3600}`, token)
		}
	case "/logout":
		if r.URL.Query().Get("client_id") != u.clientID {
			u.refuse(w, "logout: unknown client_id")
			return
		}
		http.Redirect(w, r, r.URL.Query().Get("logout_uri"), http.StatusFound)
	default:
		http.NotFound(w, r)
	}
}

// TestCognitoSignIn signs in through a hosted UI the way the catalog's pages do in AWS:
// the authorization-code flow with PKCE against COGNITO_DOMAIN, the token checked by the
// gallery as any other, and neither the code nor the token left in the tab's history.
func TestCognitoSignIn(t *testing.T) {
	issuer, err := auth.LoadOrCreateIssuer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(issuer.JWKSHandler())
	defer jwks.Close()
	ui := &hostedUI{t: t, issuer: issuer, clientID: auth.DevClientID, challenges: map[string]string{}}
	tls := httptest.NewTLSServer(ui)
	defer tls.Close()

	for k, v := range map[string]string{
		"DATABASE_URL": pgtest.NewDatabase(t), "MIGRATE_ON_START": "true", "NATS_URL": "",
		"JWKS_URL": jwks.URL, "JWT_ISSUER": auth.DevIssuer, "COGNITO_CLIENT_ID": auth.DevClientID, "COGNITO_USER_POOL_ID": "",
		"COGNITO_DOMAIN": tls.URL, "GALLERY_ADDR": "127.0.0.1:0",
	} {
		t.Setenv(k, v)
	}
	site := stacktest.Start(t, "catalog").Gallery
	ui.callback = site + "/signin/callback"

	// The test's hosted UI has a certificate of its own making.
	b := newBrowser(t, site, chromedp.Flag("ignore-certificate-errors", true))
	b.open("/signin?next=%2Fmine")
	b.run("continue to the hosted UI", chromedp.WaitVisible(chromedp.CSS("#signin")), chromedp.Click(chromedp.CSS("#signin")))
	b.waitJS(20*time.Second, "signed in as carol, on the page asked for", `location.pathname === '/mine' && document.getElementById('who').innerText.includes('carol')`)
	// The gallery took the token: carol's (empty) list of videos, not a sign-in.
	b.waitJS(10*time.Second, "carol's videos", `document.querySelector('.empty')?.innerText.includes('not uploaded')`)
	ui.mu.Lock()
	refused := append([]string(nil), ui.refused...)
	ui.mu.Unlock()
	if len(refused) > 0 {
		t.Fatalf("the hosted UI refused: %q", refused)
	}
	entries, err := chromedp.Run(b.ctx, chromedp.NavigationEntries())
	if err != nil {
		t.Fatal(err)
	}
	token := eval[string](b, `JSON.parse(sessionStorage.getItem('vf-session')).token`)
	for _, e := range entries.Entries {
		if strings.Contains(e.URL, "code=") || strings.Contains(e.URL, token) {
			t.Errorf("the tab's history holds %s", e.URL)
		}
	}

	// A callback the tab did not start (a forged or replayed state) is refused before
	// any code is traded.
	before := ui.traded()
	b.open("/signin/callback?code=stolen&state=forged")
	b.waitJS(10*time.Second, "the forged callback is refused", `document.querySelector('[role=alert]')?.innerText.includes('could not be verified')`)
	if ui.traded() != before {
		t.Errorf("a forged callback traded its code")
	}

	// Signing out ends the session here and at the hosted UI, then comes back.
	b.open("/")
	b.waitJS(10*time.Second, "still signed in", `document.getElementById('who').innerText.includes('carol')`)
	b.run("sign out", chromedp.Click(chromedp.CSS("#who button")))
	b.waitJS(20*time.Second, "signed out, back on the gallery", `location.origin + location.pathname === `+fmt.Sprintf("%q", site+"/")+` && document.getElementById('who').innerText.includes('Sign in') && !sessionStorage.getItem('vf-session')`)
}
