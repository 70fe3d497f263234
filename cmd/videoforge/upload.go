package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/bus"
)

func runUpload(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("upload", "Uploads a video file through the gallery API, shows the upload's and then the job's progress\n"+
		"(from the JOBS events on NATS, or by asking the gallery), and prints the stream URL when it is ready.")
	file := f.string("file", "", "", "the video file to upload")
	title := f.string("title", "", "", "title of the video (default: the file's name)")
	desc := f.string("description", "", "", "description of the video")
	vis := f.string("visibility", "", "public", "public, unlisted or private")
	gallery := f.string("gallery", "GALLERY_URL", "http://127.0.0.1:8080", "origin of the gallery API")
	edgeURL := f.string("edge", "EDGE_URL", "http://127.0.0.1:8081", "origin of the streaming API")
	natsURL := f.string("nats-url", "NATS_URL", "nats://127.0.0.1:4222", "NATS to follow the job's events on; the gallery is asked when it does not answer")
	token := f.string("token", "VIDEOFORGE_TOKEN", "", "Bearer token; when empty one is minted with the dev stack's key (-data, -user)")
	data := f.string("data", "VIDEOFORGE_DATA", defaultDataDir, "data folder of the dev stack, to mint a token")
	user := f.string("user", "", "alice", "user id of the minted token")
	wait := f.duration("timeout", "", 30*time.Minute, "how long to wait for the video to be ready")
	resumable := f.bool("tus", "", false, "send the file with the tus protocol (resumable, in chunks) instead of one PUT; files over 5 GiB always go so")
	chunk := f.Int64("chunk", 8<<20, "bytes per tus PATCH (API Gateway takes at most 10 MB per request)")
	noWait := f.bool("no-wait", "", false, "stop once complete accepted the upload, without following the job")
	if err := f.parse(args); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("-file is required")
	}
	if *title == "" {
		*title = strings.TrimSuffix(fileBase(*file), fileExt(*file))
	}
	if *token == "" {
		iss, err := auth.LoadIssuer(keyDir(*data))
		if err != nil {
			return fmt.Errorf("no -token, and none can be minted: %w", err)
		}
		if *token, err = iss.Mint(*user, 24*time.Hour); err != nil {
			return err
		}
	}
	if u, err := url.Parse(strings.Split(*natsURL, ",")[0]); err == nil && u.User == nil {
		// The dev stack's NATS takes only its users: follow the job as its reader.
		if pw, err := os.ReadFile(bus.PasswordFile(filepath.Join(keyDir(*data), "nats"), bus.RoleReader)); err == nil {
			*natsURL = bus.WithUser(*natsURL, string(bus.RoleReader), strings.TrimSpace(string(pw)))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	c := &apiClient{base: strings.TrimRight(*gallery, "/") + "/api/gallery", token: *token}
	in, err := os.Open(*file)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}

	body := map[string]any{"title": *title, "visibility": *vis}
	if *desc != "" {
		body["description"] = *desc
	}
	var up videoforge.Upload
	if err := c.do(ctx, "POST", "/uploads", body, &up); err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	fmt.Fprintf(stdout, "video %d, job %d: uploading %s (%s)\n", up.VideoID, up.JobID, *file, humanBytes(st.Size()))

	bar := &progressBar{w: stdout, label: "upload"}
	if useTus(*resumable, st.Size()) {
		if !*resumable {
			fmt.Fprintf(stdout, "the file is over %s, more than one PUT takes: sending it with tus\n", humanBytes(singlePutMax))
		}
		err = tusUpload(ctx, strings.TrimRight(*gallery, "/")+"/api/gallery/tus", *token, up.JobID, in, st.Size(), *chunk, bar)
		bar.done()
		if err != nil {
			return fmt.Errorf("upload: %w", err)
		}
	} else {
		req, err := http.NewRequestWithContext(ctx, "PUT", up.UploadURL, &countingReader{r: in, total: st.Size(), bar: bar})
		if err != nil {
			return err
		}
		req.ContentLength = st.Size()
		req.Header.Set("Expect", "100-continue") // a refused file is not sent
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		rb, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
		bar.done()
		if res.StatusCode/100 != 2 {
			return fmt.Errorf("upload: %s", apiError(res.StatusCode, rb))
		}
	}
	var job videoforge.JobView
	for attempt := 1; ; attempt++ {
		err := c.do(ctx, "POST", "/uploads/"+strconv.FormatInt(up.JobID, 10)+"/complete", nil, &job)
		var ae *apiErr
		// 503: a dependency is down, or the upload's last step is still storing
		// the source (complete waits for it, within bounds).
		if err == nil || !errors.As(err, &ae) || ae.status != http.StatusServiceUnavailable || attempt == 20 {
			if err != nil {
				return fmt.Errorf("complete upload: %w", err)
			}
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("complete upload: %w", err)
		case <-time.After(3 * time.Second):
		}
	}
	fmt.Fprintf(stdout, "job %d %s\n", up.JobID, job.Status)
	if *noWait {
		return nil
	}

	final, err := followJob(ctx, c, *natsURL, up.JobID, &progressBar{w: stdout, label: "transcode"})
	if err != nil {
		return err
	}
	if final.Status == videoforge.JobFailed {
		msg := "unknown reason"
		if final.Error != nil {
			msg = *final.Error
		}
		return fmt.Errorf("job %d failed: %s", up.JobID, msg)
	}
	// An unlisted video streams by its share key, which only its owner is shown.
	query := ""
	if videoforge.Visibility(*vis) == videoforge.Unlisted {
		var v videoforge.Video
		if err := c.do(ctx, "GET", "/videos/"+strconv.FormatInt(up.VideoID, 10), nil, &v); err != nil {
			return fmt.Errorf("share key: %w", err)
		}
		query = "?key=" + url.QueryEscape(v.ShareKey)
		fmt.Fprintf(stdout, "share key: %s (whoever has it can stream the video: /api/stream/%d%s)\n", v.ShareKey, up.VideoID, query)
	}
	// The edge learns of the ready video from the catalog's events: ask until it has.
	sc := &apiClient{base: strings.TrimRight(*edgeURL, "/") + "/api/stream", token: *token}
	for {
		var s struct {
			URL       string  `json:"url"`
			ExpiresAt *string `json:"expiresAt"`
		}
		err := sc.do(ctx, "GET", "/"+strconv.FormatInt(up.VideoID, 10)+query, nil, &s)
		if err == nil {
			fmt.Fprintf(stdout, "ready: video %d\nstream URL: %s\n", up.VideoID, s.URL)
			if s.ExpiresAt != nil {
				fmt.Fprintf(stdout, "(valid until %s)\n", *s.ExpiresAt)
			}
			fmt.Fprintf(stdout, "play it:    ffplay '%s'\n", s.URL)
			return nil
		}
		var ae *apiErr
		if !errors.As(err, &ae) || (ae.status != http.StatusConflict && ae.status != http.StatusNotFound) {
			return fmt.Errorf("stream URL: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stream URL: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// followJob shows the job's progress until it completes or fails: from its JOBS events
// when NATS answers, and from the gallery every few seconds in any case, so that a
// lost event never leaves the command waiting.
func followJob(ctx context.Context, c *apiClient, natsURL string, jobID int64, bar *progressBar) (*videoforge.JobView, error) {
	events := make(chan videoforge.JobEvent, 64)
	if natsURL != "" {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		conn, err := bus.Connect(cctx, natsURL, "videoforge-upload", slog.New(slog.DiscardHandler))
		cancel()
		if err == nil {
			defer conn.Close()
			cons, err := conn.JetStream().OrderedConsumer(ctx, bus.JobsStream, jetstream.OrderedConsumerConfig{
				FilterSubjects: []string{videoforge.JobSubjectPrefix + strconv.FormatInt(jobID, 10) + ".>"},
				DeliverPolicy:  jetstream.DeliverAllPolicy,
			})
			if err == nil {
				cc, err := cons.Consume(func(m jetstream.Msg) {
					var e videoforge.JobEvent
					if json.Unmarshal(m.Data(), &e) == nil {
						select {
						case events <- e:
						default:
						}
					}
				})
				if err == nil {
					defer cc.Stop()
				}
			}
		}
	}
	poll := time.NewTicker(2 * time.Second)
	defer poll.Stop()
	check := func() (*videoforge.JobView, error) {
		var j videoforge.JobView
		if err := c.do(ctx, "GET", "/jobs/"+strconv.FormatInt(jobID, 10), nil, &j); err != nil {
			return nil, err
		}
		bar.set(j.Progress / 100)
		if j.Status == videoforge.JobCompleted || j.Status == videoforge.JobFailed {
			bar.done()
			return &j, nil
		}
		return nil, nil
	}
	for {
		select {
		case <-ctx.Done():
			bar.done()
			return nil, fmt.Errorf("job %d: not finished in time: %w", jobID, ctx.Err())
		case e := <-events:
			bar.set(e.Progress / 100)
			if e.Type != videoforge.JobEventCompleted && e.Type != videoforge.JobEventFailed {
				continue
			}
		case <-poll.C:
		}
		if j, err := check(); err != nil || j != nil {
			return j, err
		}
	}
}

// apiClient calls a VideoForge JSON API with a Bearer token.
type apiClient struct {
	base, token string
}

type apiErr struct {
	status int
	msg    string
}

func (e *apiErr) Error() string { return e.msg }

func apiError(status int, body []byte) error {
	var eb struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil && eb.Error.Message != "" {
		return &apiErr{status, fmt.Sprintf("%d %s: %s", status, eb.Error.Code, eb.Error.Message)}
	}
	return &apiErr{status, fmt.Sprintf("%d %s", status, strings.TrimSpace(string(body)))}
}

func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		return apiError(res.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// countingReader moves a progress bar as the body is read.
type countingReader struct {
	r     io.Reader
	n     int64
	total int64
	bar   *progressBar
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.total > 0 {
		c.bar.set(float64(c.n) / float64(c.total))
	}
	return n, err
}

// progressBar draws "label [#####.....]  42%" on one line, redrawn at most every
// whole percent.
type progressBar struct {
	mu    sync.Mutex // the HTTP transport reads the body on its own goroutine
	w     io.Writer
	label string
	last  int
	drawn bool
}

func (b *progressBar) set(frac float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	pct := int(min(max(frac, 0), 1) * 100)
	if b.drawn && pct == b.last {
		return
	}
	b.last, b.drawn = pct, true
	const width = 30
	fill := pct * width / 100
	fmt.Fprintf(b.w, "\r%-9s [%s%s] %3d%%", b.label, strings.Repeat("#", fill), strings.Repeat(".", width-fill), pct)
}

func (b *progressBar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func fileBase(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

func fileExt(p string) string {
	b := fileBase(p)
	if i := strings.LastIndexByte(b, '.'); i > 0 {
		return b[i:]
	}
	return ""
}

// singlePutMax is the largest file one PUT takes: S3's limit for a single PUT (5 GiB).
const singlePutMax = 5 << 30

// useTus tells whether a file goes with tus: when asked, and always over singlePutMax.
func useTus(asked bool, size int64) bool { return asked || size > singlePutMax }

// tusUpload sends the file to the tus endpoint in chunks; after a failed PATCH it asks
// the server where it got to (HEAD) and resumes from there, a few times.
func tusUpload(ctx context.Context, endpoint, token string, jobID int64, f *os.File, size, chunk int64, bar *progressBar) error {
	tusReq := func(method, url string, body io.Reader, hdr map[string]string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, url, body)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
		if res.StatusCode/100 != 2 {
			return res, fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, strings.TrimSpace(string(b)))
		}
		return res, nil
	}
	res, err := tusReq("POST", endpoint, nil, map[string]string{"Upload-Length": strconv.FormatInt(size, 10),
		"Upload-Metadata": "jobId " + base64.StdEncoding.EncodeToString([]byte(strconv.FormatInt(jobID, 10)))})
	if err != nil {
		return err
	}
	loc, err := res.Location()
	if err != nil {
		return fmt.Errorf("tus: no upload location: %w", err)
	}
	var off int64
	failures := 0
	for off < size {
		n := min(chunk, size-off)
		res, err := tusReq("PATCH", loc.String(), io.NewSectionReader(f, off, n), map[string]string{
			"Content-Type": "application/offset+octet-stream", "Upload-Offset": strconv.FormatInt(off, 10)})
		if err == nil {
			off, err = strconv.ParseInt(res.Header.Get("Upload-Offset"), 10, 64)
		}
		if err != nil {
			// 409 is an offset the server does not have (or a job that takes no more
			// bytes), 423 another request still on the upload; other refusals are final.
			retry := res == nil || res.StatusCode/100 == 5 || res.StatusCode == http.StatusConflict || res.StatusCode == http.StatusLocked
			if failures++; failures > 5 || ctx.Err() != nil || !retry {
				return err
			}
			time.Sleep(time.Duration(failures) * 500 * time.Millisecond)
			// Resume where the server got to.
			if hres, herr := tusReq("HEAD", loc.String(), nil, nil); herr == nil {
				was := off
				off, _ = strconv.ParseInt(hres.Header.Get("Upload-Offset"), 10, 64)
				if res != nil && res.StatusCode == http.StatusConflict && off == was {
					return err // not an offset the server lacks: the job is sealed
				}
			}
			continue
		}
		failures = 0
		bar.set(float64(off) / float64(size))
	}
	return nil
}
