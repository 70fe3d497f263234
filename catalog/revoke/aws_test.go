package revoke_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfrontkeyvaluestore"

	"github.com/videoforge/videoforge/catalog/revoke"
)

const (
	testAccount = "123456789012"
	testKVSARN  = "arn:aws:cloudfront::" + testAccount + ":key-value-store/327284aa-bcd5-499f-a3ff-26b9a9d31b58"
	testDistID  = "E2EXAMPLE1234"
	testKeyID   = "AKIDTESTREVOKE"
	tokenKey    = "playback-token-key"
)

// fakeCloudFront plays the KeyValueStore data plane (REST-JSON, SigV4A) and
// CloudFront's CreateInvalidation (REST-XML, SigV4) at the wire level, as the SDK's
// serializers and deserializers (service/cloudfrontkeyvaluestore and
// service/cloudfront) speak them. It checks what it can check without AWS's keys:
// methods, escaped paths, the host the KeyValueStore's endpoint rule builds, the
// signature scheme and scope, If-Match against its current ETag, and the bodies.
type fakeCloudFront struct {
	t   *testing.T
	srv *httptest.Server

	mu            sync.Mutex
	keys          map[string]string
	etag          int
	updates       []updateBody // accepted UpdateKeys bodies
	conflicts     int          // UpdateKeys refused for a stale If-Match
	bumpAfterRead int          // the next n GetKeys are followed by a write of someone else
	invalidations []invalidationBatch
	refs          map[string]bool
}

type updateBody struct {
	Puts    []struct{ Key, Value string }
	Deletes []struct{ Key string }
}

type invalidationBatch struct {
	XMLName         xml.Name `xml:"InvalidationBatch"`
	CallerReference string   `xml:"CallerReference"`
	Paths           struct {
		Quantity int      `xml:"Quantity"`
		Items    []string `xml:"Items>Path"`
	} `xml:"Paths"`
}

func newFakeCloudFront(t *testing.T) *fakeCloudFront {
	f := &fakeCloudFront{t: t, keys: map[string]string{"token": tokenKey}, etag: 1, refs: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCloudFront) etagValue() string { return "KV" + strconv.Itoa(f.etag) }

func (f *fakeCloudFront) fail(w http.ResponseWriter, format string, args ...any) {
	f.t.Errorf(format, args...)
	http.Error(w, fmt.Sprintf(format, args...), http.StatusBadRequest)
}

// kvsError answers as the KeyValueStore does: the code in X-Amzn-ErrorType and a
// JSON body with a message.
func kvsError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("X-Amzn-ErrorType", code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"message":%q}`, code)
}

func (f *fakeCloudFront) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	auth := r.Header.Get("Authorization")
	body, _ := io.ReadAll(r.Body)
	const arnPath = "/key-value-stores/arn%3Aaws%3Acloudfront%3A%3A" + testAccount + "%3Akey-value-store%2F327284aa-bcd5-499f-a3ff-26b9a9d31b58"
	if rest, ok := strings.CutPrefix(r.RequestURI, arnPath); ok {
		// The endpoint rule puts the ARN's account in front of the endpoint's host,
		// and the data plane is signed with SigV4A for every region.
		if want := testAccount + "." + f.srv.Listener.Addr().String(); r.Host != want {
			f.fail(w, "KeyValueStore request to host %q, want %q", r.Host, want)
			return
		}
		if !strings.HasPrefix(auth, "AWS4-ECDSA-P256-SHA256 Credential="+testKeyID+"/") ||
			!strings.Contains(auth, "/cloudfront-keyvaluestore/aws4_request,") || r.Header.Get("X-Amz-Region-Set") != "*" {
			f.fail(w, "KeyValueStore request not SigV4A-signed for cloudfront-keyvaluestore in region set *: Authorization %q, X-Amz-Region-Set %q",
				auth, r.Header.Get("X-Amz-Region-Set"))
			return
		}
		f.serveKVS(w, r, rest, body)
		return
	}
	if r.RequestURI == "/2020-05-31/distribution/"+testDistID+"/invalidation" {
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+testKeyID+"/") || !strings.Contains(auth, "/us-east-1/cloudfront/aws4_request,") {
			f.fail(w, "CreateInvalidation not SigV4-signed for cloudfront in us-east-1: %q", auth)
			return
		}
		f.serveInvalidation(w, r, body)
		return
	}
	f.fail(w, "unexpected request %s %s", r.Method, r.RequestURI)
}

func (f *fakeCloudFront) serveKVS(w http.ResponseWriter, r *http.Request, rest string, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case rest == "" && r.Method == http.MethodGet: // DescribeKeyValueStore
		w.Header().Set("ETag", f.etagValue())
		fmt.Fprintf(w, `{"KvsARN":%q,"Created":1.7e9,"ItemCount":%d,"TotalSizeInBytes":100,"Status":"READY"}`, testKVSARN, len(f.keys))
	case strings.HasPrefix(rest, "/keys/") && r.Method == http.MethodGet: // GetKey
		id, ok := strings.CutPrefix(rest, "/keys/revoked%2F")
		if !ok {
			f.fail(w, "GetKey %q: want a key under revoked/, escaped as one path segment", rest)
			return
		}
		key := "revoked/" + id
		if f.bumpAfterRead > 0 {
			f.bumpAfterRead--
			f.etag++ // another writer
		}
		v, ok := f.keys[key]
		if !ok {
			kvsError(w, http.StatusNotFound, "ResourceNotFoundException")
			return
		}
		fmt.Fprintf(w, `{"Key":%q,"Value":%q,"ItemCount":%d,"TotalSizeInBytes":100}`, key, v, len(f.keys))
	case rest == "/keys" && r.Method == http.MethodPost: // UpdateKeys
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			f.fail(w, "UpdateKeys Content-Type %q", ct)
			return
		}
		if r.Header.Get("If-Match") != f.etagValue() {
			f.conflicts++
			kvsError(w, http.StatusConflict, "ConflictException")
			return
		}
		var u updateBody
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&u); err != nil {
			f.fail(w, "UpdateKeys body %s: %v", body, err)
			return
		}
		if n := len(u.Puts) + len(u.Deletes); n == 0 || n > revoke.MaxKeysPerUpdate {
			f.fail(w, "UpdateKeys with %d keys", n)
			return
		}
		for _, p := range u.Puts {
			f.keys[p.Key] = p.Value
		}
		for _, d := range u.Deletes {
			delete(f.keys, d.Key)
		}
		f.updates = append(f.updates, u)
		f.etag++
		w.Header().Set("ETag", f.etagValue())
		fmt.Fprintf(w, `{"ItemCount":%d,"TotalSizeInBytes":100}`, len(f.keys))
	default:
		f.fail(w, "unexpected KeyValueStore request %s %s", r.Method, r.RequestURI)
	}
}

func (f *fakeCloudFront) serveInvalidation(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost {
		f.fail(w, "CreateInvalidation with %s", r.Method)
		return
	}
	var b invalidationBatch
	if err := xml.Unmarshal(body, &b); err != nil {
		f.fail(w, "CreateInvalidation body %s: %v", body, err)
		return
	}
	if b.XMLName.Space != "http://cloudfront.amazonaws.com/doc/2020-05-31/" {
		f.fail(w, "CreateInvalidation body in namespace %q", b.XMLName.Space)
	}
	if b.Paths.Quantity != len(b.Paths.Items) || b.Paths.Quantity == 0 {
		f.fail(w, "CreateInvalidation Quantity %d with %d paths", b.Paths.Quantity, len(b.Paths.Items))
		return
	}
	if b.CallerReference == "" || f.refs[b.CallerReference] {
		f.fail(w, "CreateInvalidation CallerReference %q empty or reused", b.CallerReference)
		return
	}
	f.refs[b.CallerReference] = true
	f.invalidations = append(f.invalidations, b)
	id := "I" + strconv.Itoa(len(f.invalidations))
	w.Header().Set("Location", "https://cloudfront.amazonaws.com/2020-05-31/distribution/"+testDistID+"/invalidation/"+id)
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `<?xml version="1.0"?><Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Id>%s</Id><Status>InProgress</Status><CreateTime>2026-12-01T12:00:00Z</CreateTime>%s</Invalidation>`,
		id, strings.Replace(string(body), ` xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"`, "", 1))
}

// store returns the AWS store on SDK clients that send everything to the fake: the
// KeyValueStore's endpoint rule prefixes the host with the account id, which no DNS
// knows, so the clients dial the fake's address whatever the host.
func (f *fakeCloudFront) store() *revoke.AWS {
	addr := f.srv.Listener.Addr().String()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	creds := credentials.NewStaticCredentialsProvider(testKeyID, "secret", "")
	kvs := cloudfrontkeyvaluestore.New(cloudfrontkeyvaluestore.Options{
		Region: "eu-west-1", Credentials: creds, HTTPClient: hc, BaseEndpoint: aws.String(f.srv.URL), RetryMaxAttempts: 1,
	})
	cf := cloudfront.New(cloudfront.Options{
		Region: "us-east-1", Credentials: creds, HTTPClient: hc, BaseEndpoint: aws.String(f.srv.URL), RetryMaxAttempts: 1,
	})
	return revoke.NewAWSWithClients(kvs, cf, testKVSARN, testDistID)
}

func (f *fakeCloudFront) snapshot() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.keys)
}

func TestAWSPut(t *testing.T) {
	f := newFakeCloudFront(t)
	s := f.store()
	ctx := context.Background()
	var entries []revoke.Entry
	want := map[string]string{"token": tokenKey}
	for id := int64(1); id <= 120; id++ {
		entries = append(entries, revoke.Entry{VideoID: id, Gen: id % 7})
		want[revoke.Key(id)] = strconv.FormatInt(id%7, 10)
	}
	if err := s.Put(ctx, entries); err != nil {
		t.Fatal(err)
	}
	if got := f.snapshot(); !maps.Equal(got, want) {
		t.Fatalf("store holds %v, want %v", got, want)
	}
	f.mu.Lock()
	var sizes []int
	for _, u := range f.updates {
		sizes = append(sizes, len(u.Puts))
		if len(u.Deletes) > 0 {
			t.Errorf("Put sent deletes %v", u.Deletes)
		}
	}
	f.mu.Unlock()
	if !slices.Equal(sizes, []int{50, 50, 20}) {
		t.Errorf("UpdateKeys batches of %v puts, want [50 50 20]", sizes)
	}

	t.Run("NeverLowers", func(t *testing.T) {
		// Video 6 holds 6; a late push of generation 2 must not lower it, while
		// video 7 (held 0) is raised.
		if err := s.Put(ctx, []revoke.Entry{{VideoID: 6, Gen: 2}, {VideoID: 7, Gen: 9}}); err != nil {
			t.Fatal(err)
		}
		got := f.snapshot()
		if got[revoke.Key(6)] != "6" || got[revoke.Key(7)] != "9" {
			t.Errorf("revoked/6 = %q (want 6, kept), revoked/7 = %q (want 9)", got[revoke.Key(6)], got[revoke.Key(7)])
		}
		n := len(f.updates)
		if err := s.Put(ctx, []revoke.Entry{{VideoID: 6, Gen: 6}}); err != nil {
			t.Fatal(err)
		}
		if len(f.updates) != n {
			t.Error("a Put that changes nothing still sent UpdateKeys")
		}
	})

	t.Run("StaleETag", func(t *testing.T) {
		// Someone else writes between this store's Describe and its UpdateKeys, twice:
		// each UpdateKeys is refused and the whole read and write retried.
		f.mu.Lock()
		f.bumpAfterRead, f.conflicts = 2, 0
		f.mu.Unlock()
		if err := s.Put(ctx, []revoke.Entry{{VideoID: 500, Gen: 4}}); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		conflicts := f.conflicts
		f.mu.Unlock()
		if conflicts != 2 {
			t.Errorf("%d UpdateKeys refused for a stale ETag, want 2", conflicts)
		}
		if got := f.snapshot()[revoke.Key(500)]; got != "4" {
			t.Errorf("revoked/500 = %q, want 4", got)
		}
	})
}

func TestAWSDelete(t *testing.T) {
	f := newFakeCloudFront(t)
	s := f.store()
	ctx := context.Background()
	if err := s.Put(ctx, []revoke.Entry{{VideoID: 1, Gen: 3}, {VideoID: 2, Gen: 5}}); err != nil {
		t.Fatal(err)
	}
	// Video 2 was revoked again (5) since the entry being pruned (4) was read; video 3
	// is not there at all.
	if err := s.Delete(ctx, []revoke.Entry{{VideoID: 1, Gen: 3}, {VideoID: 2, Gen: 4}, {VideoID: 3, Gen: 1}}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"token": tokenKey, revoke.Key(2): "5"}
	if got := f.snapshot(); !maps.Equal(got, want) {
		t.Errorf("store holds %v, want %v (the token key is never touched)", got, want)
	}
	f.mu.Lock()
	last := f.updates[len(f.updates)-1]
	f.mu.Unlock()
	if len(last.Deletes) != 1 || last.Deletes[0].Key != "revoked/1" || len(last.Puts) != 0 {
		t.Errorf("last UpdateKeys %+v, want one delete of revoked/1", last)
	}
}

func TestAWSInvalidate(t *testing.T) {
	f := newFakeCloudFront(t)
	s := f.store()
	var paths []string
	for id := int64(1); id <= 20; id++ {
		paths = append(paths, revoke.InvalidationPath(id))
	}
	if err := s.Invalidate(context.Background(), paths); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var got []string
	var sizes []int
	for _, b := range f.invalidations {
		sizes = append(sizes, len(b.Paths.Items))
		got = append(got, b.Paths.Items...)
	}
	if !slices.Equal(got, paths) || !slices.Equal(sizes, []int{15, 5}) {
		t.Errorf("invalidated %v in batches %v, want %v in [15 5]", got, sizes, paths)
	}
}

func TestNewAWS(t *testing.T) {
	if _, err := revoke.NewAWS(aws.Config{}, testKVSARN, ""); err == nil {
		t.Error("NewAWS without a distribution id: no error")
	}
	if _, err := revoke.NewAWS(aws.Config{}, "", testDistID); err == nil {
		t.Error("NewAWS without a KeyValueStore ARN: no error")
	}
}
