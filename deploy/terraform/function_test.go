package terraform_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge/playback"
)

const (
	functionTemplate = "modules/storage/functions/playback_token.js"
	testKeyName      = "playback-token-key"
)

// The stand-in for CloudFront's 'cloudfront' module: a key value store holding the
// token key under KVS_KEY_NAME.
const cloudfrontStub = `export default {
  kvs() {
    return {
      async get(name) {
        if (name === process.env.KVS_KEY_NAME && process.env.KVS_KEY_VALUE) {
          return process.env.KVS_KEY_VALUE;
        }
        throw new Error('key not found: ' + name);
      },
    };
  },
};
`

// The harness reads one case per line, {"uri", "nowMs"}, runs the handler with the
// clock set to nowMs, and prints {"status", "uri"} per case.
const harness = `import { handler } from './function.mjs';
import readline from 'readline';
const rl = readline.createInterface({ input: process.stdin });
const realNow = Date.now;
for await (const line of rl) {
  const c = JSON.parse(line);
  Date.now = () => c.nowMs;
  const r = await handler({ request: { method: 'GET', uri: c.uri, querystring: {}, headers: {}, cookies: {} } });
  Date.now = realNow;
  if (r.statusCode !== undefined) {
    console.log(JSON.stringify({ status: r.statusCode, uri: '' }));
  } else {
    console.log(JSON.stringify({ status: 0, uri: r.uri }));
  }
}
`

type fnCase struct {
	URI   string `json:"uri"`
	NowMs int64  `json:"nowMs"`
}

type fnResult struct {
	Status int    `json:"status"` // 0: passed on to the origin
	URI    string `json:"uri"`
}

// nodeBinary finds node or fails the test saying how to install it.
func nodeBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found in PATH: the CloudFront Function is checked under Node.js >= 18; " +
			"install it with `apt-get install -y nodejs`")
	}
	return p
}

// renderFunction fills in the template variables as templatefile() does.
func renderFunction(t *testing.T, allowPlain bool) string {
	t.Helper()
	src, err := os.ReadFile(functionTemplate)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.ReplaceAll(string(src), "${key_name}", testKeyName)
	out = strings.ReplaceAll(out, "${allow_plain_paths}", strconv.FormatBool(allowPlain))
	if strings.Contains(out, "${") || strings.Contains(out, "%{") {
		t.Fatalf("%s has template sequences besides ${key_name} and ${allow_plain_paths}: templatefile would change them", functionTemplate)
	}
	return out
}

// runFunction runs the function under Node over the cases, one process for all.
func runFunction(t *testing.T, key []byte, allowPlain bool, cases []fnCase) []fnResult {
	t.Helper()
	node := nodeBinary(t)
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("node_modules/cloudfront/package.json", `{"name":"cloudfront","type":"module","main":"index.js"}`)
	write("node_modules/cloudfront/index.js", cloudfrontStub)
	// CloudFront calls the top-level handler; Node needs it exported.
	write("function.mjs", renderFunction(t, allowPlain)+"\nexport { handler };\n")
	write("harness.mjs", harness)

	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for _, c := range cases {
		if err := enc.Encode(c); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(node, "harness.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KVS_KEY_NAME="+testKeyName, "KVS_KEY_VALUE="+string(key))
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node harness: %v\n%s", err, stderr.String())
	}
	var results []fnResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("{")) {
			continue // console.log of the function
		}
		var r fnResult
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("harness output %q: %v", line, err)
		}
		results = append(results, r)
	}
	if len(results) != len(cases) {
		t.Fatalf("harness answered %d of %d cases\n%s", len(results), len(cases), stderr.String())
	}
	return results
}

// tokenCases builds paths around valid tokens: the tokens themselves, every kind of
// malformation playback.Check knows, and random mutations.
func tokenCases(key []byte, now time.Time) []string {
	id := int64(4242)
	good := playback.Sign(key, id, 0, now.Add(time.Hour))
	goodPath := good + "hls/master.m3u8"
	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	sig := strings.Split(good, "/")[3]
	uris := []string{
		goodPath,
		good + "hls/720p/segment_00001.ts",
		good + "thumbnail.jpg",
		playback.Sign(key, 1, 0, now.Add(time.Minute)) + "hls/master.m3u8",
		playback.Sign(key, 9223372036854775807, 0, now.Add(time.Minute)) + "hls/master.m3u8",
		playback.Sign(key, id, 0, now.Add(-time.Second)) + "hls/master.m3u8", // expired
		playback.Sign(key, id, 0, now) + "hls/master.m3u8",                   // expires now
		playback.Sign(key, id, 0, now.Add(time.Second)) + "hls/master.m3u8",
		playback.Sign([]byte("another key of the right length 12345"), id, 0, now.Add(time.Hour)) + "hls/master.m3u8",
		"/t/000" + exp + "/" + sig + "/videos/4242/hls/master.m3u8", // leading zeros: same number
		"/t/" + exp + "/" + sig + "/videos/4243/hls/master.m3u8",    // another video
		"/t/" + exp + "/" + sig + "/videos/04242/hls/master.m3u8",
		"/t/" + exp + "/" + sig + "/videos/4242/",
		"/t/" + exp + "/" + sig + "/videos/4242",
		"/t/" + exp + "/" + sig + "/videos/4242/hls//master.m3u8",
		"/t/" + exp + "/" + sig + "/videos/4242/hls/../../4243/hls/master.m3u8",
		"/t/" + exp + "/" + sig + "/videos/4242/./hls/master.m3u8",
		"/t/" + exp + "/" + sig + "/videos/4242/hls\\master.m3u8",
		"/t/" + exp + "/" + sig + "/videos/4242/hls/\x00.m3u8",
		"/t/" + exp + "/" + sig + "/video/4242/hls/master.m3u8",
		"/t/" + exp + "/" + sig + "=/videos/4242/hls/master.m3u8",
		"/t/" + exp + "/" + sig[:42] + "/videos/4242/hls/master.m3u8",
		"/t/" + exp + "/" + strings.ToUpper(sig) + "/videos/4242/hls/master.m3u8",
		"/t/99999999999999999999/" + sig + "/videos/4242/hls/master.m3u8",
		"/t/9223372036854775808/" + sig + "/videos/4242/hls/master.m3u8",
		"/t/9223372036854775807/" + sig + "/videos/4242/hls/master.m3u8",
		"/t/-" + exp + "/" + sig + "/videos/4242/hls/master.m3u8",
		"/t//" + sig + "/videos/4242/hls/master.m3u8",
		"/t/" + exp,
		"/t/",
		"/t",
		"/T/" + exp + "/" + sig + "/videos/4242/hls/master.m3u8",
		"/videos/4242/hls/master.m3u8", // plain: public videos
		"/videos/",
		"/uploads/7/source",
		"/",
		"",
	}
	// The two unused low bits of the signature's last character: Go ignores them.
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", sig[42])
	for d := 1; d < 4; d++ {
		c := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last^d]
		uris = append(uris, "/t/"+exp+"/"+sig[:42]+string(c)+"/videos/4242/hls/master.m3u8")
	}
	// Every single-character change of the signature.
	for i := range len(sig) {
		b := []byte(sig)
		b[i] ^= 0x01
		uris = append(uris, "/t/"+exp+"/"+string(b)+"/videos/4242/hls/master.m3u8")
	}
	// Random mutations of a good path.
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "/.\\09aZ-_t=%\x00v"
	for range 3000 {
		b := []byte(goodPath)
		for range 1 + r.IntN(3) {
			i := r.IntN(len(b))
			switch r.IntN(3) {
			case 0:
				b[i] = alphabet[r.IntN(len(alphabet))]
			case 1:
				b = append(b[:i], b[i+1:]...)
			default:
				b = append(b[:i], append([]byte{alphabet[r.IntN(len(alphabet))]}, b[i:]...)...)
			}
			if len(b) == 0 {
				b = []byte("/")
			}
		}
		uris = append(uris, string(b))
	}
	return uris
}

func TestPlaybackTokenFunctionMatchesGo(t *testing.T) {
	key := []byte("k3yOfTheTestsThatIsLongEnough0123456789AB")
	if err := playback.ValidateKey(key); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 250_000_000)
	uris := tokenCases(key, now)
	cases := make([]fnCase, len(uris))
	for i, u := range uris {
		cases[i] = fnCase{URI: u, NowMs: now.UnixMilli()}
	}

	for _, allowPlain := range []bool{true, false} {
		t.Run(fmt.Sprintf("AllowPlainPaths=%t", allowPlain), func(t *testing.T) {
			results := runFunction(t, key, allowPlain, cases)
			accepted := 0
			for i, u := range uris {
				got := results[i]
				var want fnResult
				if strings.HasPrefix(u, "/t/") {
					// As the media server answers: a malformed path is not there
					// (404), a refused token is 403, whatever the video.
					if p, err := playback.Check(key, u, now); err == nil {
						want = fnResult{Status: 0, URI: p.Path}
						accepted++
					} else if errors.Is(err, playback.ErrMalformed) {
						want = fnResult{Status: 404}
					} else {
						want = fnResult{Status: 403}
					}
				} else if allowPlain && strings.HasPrefix(u, "/videos/") {
					want = fnResult{Status: 0, URI: u}
				} else {
					want = fnResult{Status: 403}
				}
				if got != want {
					t.Errorf("%q: function answered %+v, want %+v (as playback.Check)", u, got, want)
				}
			}
			// The corpus must exercise both outcomes, or the comparison proves little.
			if accepted < 10 {
				t.Errorf("only %d token paths accepted by playback.Check: corpus too weak", accepted)
			}
		})
	}

	t.Run("ErrKeyMissing", func(t *testing.T) {
		results := runFunction(t, []byte(""), true, []fnCase{{URI: uris[0], NowMs: now.UnixMilli()}})
		if results[0].Status != 403 {
			t.Errorf("with an empty key store the function answered %+v, want 403", results[0])
		}
	})
}
