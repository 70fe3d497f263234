package terraform_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
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

// The stand-in for CloudFront's 'cloudfront' module: a key value store whose contents
// (and failures) the harness sets per case in globalThis.kvsCase. Like CloudFront's, get
// of a missing key throws and exists answers a boolean. fail: "exists" or "get" make
// every call of that method throw, "revoked" every call about a revoked/ key, and
// "revoked-get" only get of a revoked/ key (deleted between exists and get, or a store
// that fails half-way).
const cloudfrontStub = `function current() {
  return globalThis.kvsCase || { store: {} };
}
function check(c, method, name) {
  const revoked = name.startsWith('revoked/');
  if (c.fail === method || (c.fail === 'revoked' && revoked) || (c.fail === 'revoked-get' && method === 'get' && revoked)) {
    throw new Error('key value store unavailable');
  }
}
export default {
  kvs() {
    return {
      async exists(name) {
        const c = current();
        check(c, 'exists', name);
        return Object.prototype.hasOwnProperty.call(c.store || {}, name);
      },
      async get(name, options) {
        const c = current();
        check(c, 'get', name);
        if (options !== undefined && options.format !== undefined && options.format !== 'string') {
          throw new Error('the stand-in serves strings only');
        }
        if (Object.prototype.hasOwnProperty.call(c.store || {}, name)) {
          return c.store[name];
        }
        throw new Error('key not found: ' + name);
      },
    };
  },
};
`

// The harness reads one case per line, {"uri", "nowMs", "store", "fail"}, runs the
// handler with the clock set to nowMs and the key value store holding store, and
// prints {"status", "uri"} per case.
const harness = `import { handler } from './function.mjs';
import readline from 'readline';
const rl = readline.createInterface({ input: process.stdin });
const realNow = Date.now;
for await (const line of rl) {
  const c = JSON.parse(line);
  Date.now = () => c.nowMs;
  globalThis.kvsCase = c;
  const r = await handler({ request: { method: 'GET', uri: c.uri, querystring: {}, headers: {}, cookies: {} } });
  Date.now = realNow;
  if (r.statusCode !== undefined) {
    console.log(JSON.stringify({ status: r.statusCode, uri: '' }));
  } else {
    console.log(JSON.stringify({ status: 0, uri: r.uri }));
  }
}
`

// An fnCase is one request and the key value store the function sees for it.
type fnCase struct {
	URI   string            `json:"uri"`
	NowMs int64             `json:"nowMs"`
	Store map[string]string `json:"store"`
	Fail  string            `json:"fail,omitempty"`
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
func runFunction(t *testing.T, allowPlain bool, cases []fnCase) []fnResult {
	t.Helper()
	return runSource(t, renderFunction(t, allowPlain), cases)
}

// runSource runs function source (rendered) under Node over the cases.
func runSource(t *testing.T, source string, cases []fnCase) []fnResult {
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
	write("function.mjs", source+"\nexport { handler };\n")
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
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node harness: %v\n%s", err, stderr.String())
	}
	var results []fnResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
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

// expected is what the function must answer, decided on the Go side: a path that is no
// token path is 404 (playback.ErrMalformed, as the media server answers); a token is
// passed on to Grant.Path when the key store yields a key playback.ParseKey accepts (a
// "base64:" value is the standard base64 of the key's bytes, anything else its UTF-8
// bytes, at least playback.MinKeyLength of them), playback.Check accepts it with that key, and the
// video's revocation entry, if any, is a decimal int64 no higher than Grant.Gen; every
// other token, and every failure of the store, is 403.
func expected(c fnCase, allowPlain bool, now time.Time) fnResult {
	u := c.URI
	if !strings.HasPrefix(u, "/t/") {
		if allowPlain && strings.HasPrefix(u, "/videos/") {
			return fnResult{Status: 0, URI: u}
		}
		return fnResult{Status: 403}
	}
	// Malformed is malformed whatever the key.
	if _, err := playback.Check(nil, u, now); errors.Is(err, playback.ErrMalformed) {
		return fnResult{Status: 404}
	}
	deny := fnResult{Status: 403}
	value, ok := c.Store[testKeyName]
	if !ok || c.Fail == "get" {
		return deny
	}
	key, err := playback.ParseKey(value) // "base64:" or text, and long enough
	if err != nil {
		return deny
	}
	g, err := playback.Check(key, u, now)
	if err != nil {
		return deny
	}
	if c.Fail == "exists" || c.Fail == "revoked" {
		return deny
	}
	if min, ok := c.Store["revoked/"+strconv.FormatInt(g.VideoID, 10)]; ok {
		if c.Fail == "revoked-get" {
			return deny
		}
		if strings.TrimLeft(min, "0123456789") != "" {
			return deny // no decimal number (a sign, a space, a dot, empty)
		}
		n, err := strconv.ParseInt(min, 10, 64)
		if err != nil || g.Gen < n {
			return deny
		}
	}
	return fnResult{Status: 0, URI: g.Path}
}

// mutate returns n random mutations of path (replaced, deleted and inserted bytes).
func mutate(r *rand.Rand, path string, n int) []string {
	const alphabet = "/.\\09aZ-_t=%\x00v"
	var out []string
	for range n {
		b := []byte(path)
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
		out = append(out, string(b))
	}
	return out
}

// tokenCases builds paths around valid tokens: the tokens themselves, of generation 0
// (no ".<gen>"), 1, and large ones, every kind of malformation playback.Check knows, and
// random mutations.
func tokenCases(key []byte, now time.Time) []string {
	id := int64(4242)
	good := playback.Sign(key, id, 0, now.Add(time.Hour))
	goodPath := good + "hls/master.m3u8"
	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	sig := strings.Split(good, "/")[3]
	gen1 := playback.Sign(key, id, 1, now.Add(time.Hour))
	gen1Path := gen1 + "hls/master.m3u8"
	sig1 := strings.Split(gen1, "/")[3]
	gen7 := playback.Sign(key, id, 7, now.Add(time.Hour))
	sig7 := strings.Split(gen7, "/")[3]
	tail := "/videos/4242/hls/master.m3u8"
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

		// Generations.
		gen1Path,
		gen1 + "hls/720p/segment_00001.ts",
		gen7 + "thumbnail.jpg",
		playback.Sign(key, id, 123456789, now.Add(time.Hour)) + "hls/master.m3u8",
		playback.Sign(key, id, 9223372036854775806, now.Add(time.Hour)) + "hls/master.m3u8",
		playback.Sign(key, id, 9223372036854775807, now.Add(time.Hour)) + "hls/master.m3u8",
		playback.Sign(key, 9223372036854775807, 9223372036854775807, now.Add(time.Minute)) + "hls/master.m3u8",
		playback.Sign(key, id, 3, now.Add(-time.Second)) + "hls/master.m3u8", // expired
		playback.Sign(key, id, 3, now) + "hls/master.m3u8",                   // expires now
		playback.Sign([]byte("another key of the right length 12345"), id, 3, now.Add(time.Hour)) + "hls/master.m3u8",
		"/t/000" + exp + ".1/" + sig1 + tail, // leading zeros of the expiry: same number
		"/t/" + exp + ".2/" + sig1 + tail,    // forged: a higher generation, gen 1's signature
		"/t/" + exp + ".8/" + sig7 + tail,    // forged: gen 7's signature
		"/t/" + exp + ".6/" + sig7 + tail,    // forged: lower
		"/t/" + exp + "/" + sig1 + tail,      // generation dropped
		"/t/" + exp + ".1/" + sig + tail,     // generation added to a gen-0 token
		"/t/" + exp + ".0/" + sig + tail,     // gen 0 is never written
		"/t/" + exp + ".01/" + sig1 + tail,   // leading zero
		"/t/" + exp + ".03/" + sig1 + tail,   // leading zero
		"/t/" + exp + "./" + sig + tail,      // empty
		"/t/" + exp + ".-1/" + sig + tail,    // sign
		"/t/" + exp + ".+1/" + sig1 + tail,   // sign
		"/t/" + exp + "..1/" + sig1 + tail,   // two dots
		"/t/" + exp + ".1./" + sig1 + tail,   // two dots
		"/t/" + exp + ".1.1/" + sig1 + tail,  // two dots
		"/t/" + exp + ".1a/" + sig1 + tail,   // not a number
		"/t/" + exp + ". 1/" + sig1 + tail,   // space
		"/t/." + exp + "/" + sig + tail,      // no expiry
		"/t/.1/" + sig1 + tail,               // no expiry
		"/t/" + exp + ".1" + tail,            // no signature
		"/t/" + exp + ".9223372036854775807/" + sig1 + tail,
		"/t/" + exp + ".9223372036854775808/" + sig1 + tail,  // past int64
		"/t/" + exp + ".99999999999999999999/" + sig1 + tail, // 20 digits
		"/t/" + exp + ".1/" + sig1 + "/videos/4243/hls/master.m3u8",
		"/t/" + exp + ".1/" + sig1 + "/videos/4242/hls/../master.m3u8",
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
	// Random mutations of a good path, of generation 0 and 1.
	r := rand.New(rand.NewPCG(1, 2))
	uris = append(uris, mutate(r, goodPath, 3000)...)
	uris = append(uris, mutate(r, gen1Path, 1500)...)
	return uris
}

// testKey is the text key of most cases; binaryKey has bytes no text key has: zeros,
// high bytes, and groups that base64 encodes as '+' and '/'.
var testKey = []byte("k3yOfTheTestsThatIsLongEnough0123456789AB")

func binaryKey() []byte {
	k := make([]byte, 32)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range k {
		k[i] = byte(r.UintN(256))
	}
	copy(k, []byte{0x00, 0x00, 0x00, 0xfb, 0xef, 0xbe, 0xff, 0xff, 0xff, 0x80, 0x00, 0x7f})
	k[31] = 0
	return k
}

// compare runs cases and checks every answer against expected.
func compare(t *testing.T, allowPlain bool, now time.Time, cases []fnCase) (accepted int) {
	t.Helper()
	results := runFunction(t, allowPlain, cases)
	for i, c := range cases {
		want := expected(c, allowPlain, now)
		if want.Status == 0 && strings.HasPrefix(c.URI, "/t/") {
			accepted++
		}
		if results[i] != want {
			t.Errorf("%q with store %q (fail %q): function answered %+v, want %+v (as playback.Check and the revocation entry say)",
				c.URI, c.Store, c.Fail, results[i], want)
		}
	}
	return accepted
}

func keyStore(value string, extra ...string) map[string]string {
	m := map[string]string{testKeyName: value}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// revocationCases crosses tokens of several generations and videos with revocation
// entries: absent, below, equal, above, the int64 extremes, another video's, and
// values that are no decimal number (which refuse, fail closed).
func revocationCases(key []byte, keyValue string, now time.Time) []fnCase {
	type tok struct {
		id, gen int64
	}
	toks := []tok{{4242, 0}, {4242, 1}, {4242, 2}, {4242, 5}, {4242, 9223372036854775806}, {4242, 9223372036854775807}, {77, 3}}
	entries := []string{"", "0", "1", "2", "3", "5", "6", "01", "0005", "9223372036854775806", "9223372036854775807",
		"9223372036854775808", "99999999999999999999", "-1", "+1", " 1", "1 ", "1.0", "x", "EMPTY"}
	nowMs := now.UnixMilli()
	var cases []fnCase
	for _, tk := range toks {
		paths := []string{
			playback.Sign(key, tk.id, tk.gen, now.Add(time.Hour)) + "hls/master.m3u8",
			playback.Sign(key, tk.id, tk.gen, now.Add(-time.Minute)) + "hls/master.m3u8",                            // expired
			playback.Sign([]byte("another key of the right length 12345"), tk.id, tk.gen, now.Add(time.Hour)) + "x", // bad signature
		}
		name := "revoked/" + strconv.FormatInt(tk.id, 10)
		for _, p := range paths {
			cases = append(cases, fnCase{URI: p, NowMs: nowMs, Store: keyStore(keyValue)})
			cases = append(cases, fnCase{URI: p, NowMs: nowMs, Store: keyStore(keyValue, "revoked/4243", "9223372036854775807", "revoked/"+strconv.FormatInt(tk.id, 10)+"0", "9223372036854775807")})
			for _, e := range entries {
				if e == "" {
					continue
				}
				v := e
				if e == "EMPTY" {
					v = ""
				}
				cases = append(cases, fnCase{URI: p, NowMs: nowMs, Store: keyStore(keyValue, name, v)})
			}
		}
	}
	return cases
}

// failureCases: a store that fails answers 403 to every well-formed token (and still
// 404 to malformed paths, which need no look-up), whatever the revocation entry.
func failureCases(key []byte, keyValue string, now time.Time) []fnCase {
	nowMs := now.UnixMilli()
	paths := []string{
		playback.Sign(key, 4242, 0, now.Add(time.Hour)) + "hls/master.m3u8",
		playback.Sign(key, 4242, 4, now.Add(time.Hour)) + "hls/master.m3u8",
		"/t/x/" + strings.Repeat("A", 43) + "/videos/4242/hls/master.m3u8",
		"/videos/4242/hls/master.m3u8",
	}
	var cases []fnCase
	for _, fail := range []string{"exists", "get", "revoked", "revoked-get"} {
		for _, p := range paths {
			cases = append(cases,
				fnCase{URI: p, NowMs: nowMs, Store: keyStore(keyValue), Fail: fail},
				fnCase{URI: p, NowMs: nowMs, Store: keyStore(keyValue, "revoked/4242", "1"), Fail: fail},
				fnCase{URI: p, NowMs: nowMs, Store: keyStore(keyValue, "revoked/4242", "0"), Fail: fail},
			)
		}
	}
	// No key in the store at all, or an empty or short one.
	for _, p := range paths {
		cases = append(cases,
			fnCase{URI: p, NowMs: nowMs, Store: map[string]string{}},
			fnCase{URI: p, NowMs: nowMs, Store: map[string]string{"playback-token-key-2": keyValue}},
			fnCase{URI: p, NowMs: nowMs, Store: keyStore("")},
			fnCase{URI: p, NowMs: nowMs, Store: keyStore("base64:")},
		)
	}
	return cases
}

// allCases is the shared table: the token corpus and revocation table under the text
// key, under a binary key (KVS value "base64:..."), and under a non-ASCII text key,
// the store failures, and short keys.
func allCases(now time.Time) []fnCase {
	nowMs := now.UnixMilli()
	var cases []fnCase
	for _, u := range tokenCases(testKey, now) {
		cases = append(cases, fnCase{URI: u, NowMs: nowMs, Store: keyStore(string(testKey))})
	}
	cases = append(cases, revocationCases(testKey, string(testKey), now)...)
	cases = append(cases, failureCases(testKey, string(testKey), now)...)

	bin := binaryKey()
	binValue := "base64:" + base64.StdEncoding.EncodeToString(bin)
	binStore := keyStore(binValue)
	r := rand.New(rand.NewPCG(5, 6))
	binGood := playback.Sign(bin, 4242, 0, now.Add(time.Hour)) + "hls/master.m3u8"
	binGen := playback.Sign(bin, 4242, 9, now.Add(time.Hour)) + "hls/master.m3u8"
	binURIs := []string{
		binGood, binGen,
		playback.Sign(bin, 1, 0, now.Add(time.Minute)) + "thumbnail.jpg",
		// Signed with the store's text instead of the bytes it encodes, or with the
		// key's bytes read as Latin-1 text: refused.
		playback.Sign([]byte(binValue), 4242, 0, now.Add(time.Hour)) + "hls/master.m3u8",
		playback.Sign([]byte(binValue[len("base64:"):]), 4242, 0, now.Add(time.Hour)) + "hls/master.m3u8",
		playback.Sign([]byte(latin1UTF8(bin)), 4242, 0, now.Add(time.Hour)) + "hls/master.m3u8",
		playback.Sign(testKey, 4242, 0, now.Add(time.Hour)) + "hls/master.m3u8",
	}
	binURIs = append(binURIs, mutate(r, binGood, 300)...)
	binURIs = append(binURIs, mutate(r, binGen, 300)...)
	for _, u := range binURIs {
		cases = append(cases, fnCase{URI: u, NowMs: nowMs, Store: binStore})
	}
	cases = append(cases, revocationCases(bin, binValue, now)...)
	// The forms of the base64 value ParseKey takes (spaces around, line breaks inside)
	// and those it refuses (URL alphabet, a character short, no padding, other bytes).
	b64 := binValue[len("base64:"):]
	for _, v := range []string{
		"base64: " + b64 + "\n",
		"base64:\t" + b64 + " \r\n",
		"base64:" + b64[:20] + "\n" + b64[20:],
		"base64:" + b64[:20] + "\r\n" + b64[20:32] + "\n" + b64[32:],
		"base64:" + strings.NewReplacer("+", "-", "/", "_").Replace(b64),
		"base64:" + b64[:len(b64)-1],
		"base64:" + strings.TrimRight(b64, "="),
		"base64:" + b64[:20] + " " + b64[20:],
		"base64:" + b64[:20] + "*" + b64[21:],
		"base64:" + b64 + "=",
		"BASE64:" + b64,
		"base64:" + base64.StdEncoding.EncodeToString(testKey),
	} {
		for _, u := range []string{binGood, binGen, playback.Sign(testKey, 4242, 0, now.Add(time.Hour)) + "hls/master.m3u8"} {
			cases = append(cases, fnCase{URI: u, NowMs: nowMs, Store: keyStore(v)})
		}
	}

	// A text key that is no ASCII: its UTF-8 bytes.
	utf := "kéy-ünïcödé-that-is-long-enough-✓✓✓-ÿ"
	for _, u := range []string{
		playback.Sign([]byte(utf), 4242, 0, now.Add(time.Hour)) + "hls/master.m3u8",
		playback.Sign([]byte(utf), 4242, 2, now.Add(time.Hour)) + "hls/master.m3u8",
		playback.Sign([]byte(latin1UTF8([]byte(utf))), 4242, 0, now.Add(time.Hour)) + "hls/master.m3u8",
	} {
		cases = append(cases, fnCase{URI: u, NowMs: nowMs, Store: keyStore(utf)})
	}

	// Keys shorter than playback.MinKeyLength are refused even when they signed.
	short := bin[:16]
	for _, u := range []string{
		playback.Sign(short, 4242, 0, now.Add(time.Hour)) + "hls/master.m3u8",
		playback.Sign([]byte("short key"), 4242, 0, now.Add(time.Hour)) + "hls/master.m3u8",
	} {
		cases = append(cases,
			fnCase{URI: u, NowMs: nowMs, Store: keyStore("base64:" + base64.StdEncoding.EncodeToString(short))},
			fnCase{URI: u, NowMs: nowMs, Store: keyStore("short key")})
	}
	return cases
}

// latin1UTF8 reads b as Latin-1 and returns the UTF-8 of that text: what a function
// that took the key's bytes for characters would sign with.
func latin1UTF8(b []byte) string {
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = rune(c)
	}
	return string(rs)
}

func TestPlaybackTokenFunctionMatchesGo(t *testing.T) {
	if err := playback.ValidateKey(testKey); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 250_000_000)
	cases := allCases(now)

	for _, allowPlain := range []bool{true, false} {
		t.Run(fmt.Sprintf("AllowPlainPaths=%t", allowPlain), func(t *testing.T) {
			accepted := compare(t, allowPlain, now, cases)
			// The corpus must exercise both outcomes, or the comparison proves little.
			if accepted < 10 {
				t.Errorf("only %d token paths accepted by playback.Check: corpus too weak", accepted)
			}
		})
	}

	// The table must tell each promise apart: every outcome class is there.
	t.Run("CorpusCoversEachPromise", func(t *testing.T) {
		type class struct {
			name string
			has  func(c fnCase, want fnResult) bool
		}
		revoked := func(c fnCase) bool { _, ok := c.Store["revoked/4242"]; return ok }
		isBinary := func(c fnCase) bool { return strings.HasPrefix(c.Store[testKeyName], "base64:") }
		// gen is the generation a token path names (0 without one), -1 for no token.
		gen := func(c fnCase) int64 {
			p := strings.Split(c.URI, "/")
			if len(p) < 3 || p[1] != "t" {
				return -1
			}
			_, gs, ok := strings.Cut(p[2], ".")
			if !ok {
				return 0
			}
			n, err := strconv.ParseInt(gs, 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
		classes := []class{
			{"gen 0 accepted", func(c fnCase, w fnResult) bool {
				return w.Status == 0 && gen(c) == 0 && strings.HasPrefix(c.URI, "/t/")
			}},
			{"gen 1 accepted", func(c fnCase, w fnResult) bool { return w.Status == 0 && gen(c) == 1 }},
			{"max gen accepted", func(c fnCase, w fnResult) bool { return w.Status == 0 && gen(c) == 9223372036854775807 }},
			{"forged gen refused", func(c fnCase, w fnResult) bool { return w.Status == 403 && gen(c) == 2 && !revoked(c) && c.Fail == "" }},
			{"malformed gen 404", func(c fnCase, w fnResult) bool { return w.Status == 404 && strings.Contains(c.URI, ".0") }},
			{"revoked refused", func(c fnCase, w fnResult) bool {
				if !revoked(c) || w.Status != 403 || c.Fail != "" {
					return false
				}
				_, err := playback.Check(testKey, c.URI, now)
				return err == nil
			}},
			{"revocation passed", func(c fnCase, w fnResult) bool { return revoked(c) && w.Status == 0 && c.Store["revoked/4242"] != "0" }},
			{"store error refused", func(c fnCase, w fnResult) bool { return c.Fail != "" && w.Status == 403 }},
			{"binary key accepted", func(c fnCase, w fnResult) bool { return isBinary(c) && w.Status == 0 }},
			{"binary key revoked", func(c fnCase, w fnResult) bool { return isBinary(c) && revoked(c) && w.Status == 403 }},
		}
		for _, cl := range classes {
			n := 0
			for _, c := range cases {
				if cl.has(c, expected(c, true, now)) {
					n++
				}
			}
			if n == 0 {
				t.Errorf("the table has no case of %q", cl.name)
			}
		}
	})

	// The comparison catches a function that skips a promise: each of these broken
	// variants must disagree with Go somewhere in the table.
	t.Run("CatchesBrokenFunctions", func(t *testing.T) {
		src := renderFunction(t, true)
		for name, edit := range map[string][2]string{
			"IgnoresRevocations":   {"if (min === null || less(t.gen, min)) {", "if (min === null) {"},
			"OpensOnStoreFailure":  {"if (min === null || less(t.gen, min)) {", "if (min !== null && less(t.gen, min)) {"},
			"IgnoresBinaryKeys":    {"if (value.startsWith(BINARY_PREFIX)) {", "if (false) {"},
			"ComparesGenAsNumbers": {"  if (a.length !== b.length) {\n    return a.length < b.length;\n  }\n  return a < b;", "  return Number(a) < Number(b);"},
			"SignsWithoutGen":      {"crypto.createHmac('sha256', key).update(t.stamp + ", "crypto.createHmac('sha256', key).update(t.expiry + "},
		} {
			t.Run(name, func(t *testing.T) {
				if !strings.Contains(src, edit[0]) {
					t.Fatalf("the function no longer has %q: update this test", edit[0])
				}
				broken := strings.Replace(src, edit[0], edit[1], 1)
				results := runSource(t, broken, cases)
				for i, c := range cases {
					if results[i] != expected(c, true, now) {
						return // caught
					}
				}
				t.Errorf("a function that %s agrees with Go on every case: the table misses it", name)
			})
		}
	})
}
