package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// playableSource is a generated upload of the playable benchmark.
type playableSource struct {
	name, what string
	args       []string // ffmpeg's, before the output file
	baseline   bool     // also timed with the ladder alone (TRANSCODER_PUBLISH_EARLY=false)
}

// playableSources are a phone's kind of uploads: 1080p H.264 at about 10 Mb/s (noise,
// so that encoding is not trivial), one of them with its index (moov) at the end, and
// a VP9 one that has to be encoded before it plays; with long, a 10-minute one too.
func playableSources(long bool) []playableSource {
	h264 := func(secs int, faststart bool) []string {
		a := []string{"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=1920x1080:rate=30:duration=%d,noise=alls=8:allf=t", secs),
			"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%d", secs),
			"-c:v", "libx264", "-preset", "ultrafast", "-b:v", "10M", "-maxrate", "12M", "-bufsize", "20M", "-pix_fmt", "yuv420p", "-g", "60",
			"-c:a", "aac", "-b:a", "128k", "-shortest"}
		if faststart {
			a = append(a, "-movflags", "+faststart")
		}
		return a
	}
	sources := []playableSource{
		{"h264-10s.mp4", "H.264 1080p 10 s", h264(10, true), true},
		{"h264-1min.mp4", "H.264 1080p 1 min, moov at the end", h264(60, false), true},
		{"vp9-1min.webm", "VP9 720p 1 min", []string{"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=60,noise=alls=8:allf=t",
			"-f", "lavfi", "-i", "sine=frequency=440:duration=60", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
			"-b:v", "3M", "-row-mt", "1", "-c:a", "libopus", "-shortest"}, true},
	}
	if long {
		sources = append(sources, playableSource{"h264-10min.mp4", "H.264 1080p 10 min", h264(600, true), false})
	}
	return sources
}

// generate makes the sources, or finds them made by an earlier run in the folder
// vfbench-sources of the temporary folder (their names carry a hash of the command
// that made them); it returns each one's path by name.
func generate(ctx context.Context, sources []playableSource) (map[string]string, error) {
	dir := filepath.Join(os.TempDir(), "vfbench-sources")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	paths := map[string]string{}
	for _, s := range sources {
		sum := sha256.Sum256([]byte(strings.Join(s.args, " ")))
		path := filepath.Join(dir, hex.EncodeToString(sum[:4])+"-"+s.name)
		paths[s.name] = path
		if _, err := os.Stat(path); err == nil {
			continue
		}
		part := path + ".part" + filepath.Ext(path)
		args := append([]string{"-hide_banner", "-loglevel", "error", "-y"}, append(s.args, part)...)
		if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("generate %s: %v: %s", s.name, err, out)
		}
		if err := os.Rename(part, path); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// benchPlayable measures, on the videoforge binary's dev stack, how long an upload
// takes to play and to have every rendition: from complete answered until the edge
// gives a stream URL whose master, first variant and first segment all download, and
// until the job completed. Each source runs runs times with the early publishing and,
// but for the 10-minute one, as many with the ladder alone
// (TRANSCODER_PUBLISH_EARLY=false), medians side by side. With long, the 10-minute
// source's ladder is also timed on 1 and on 2 transcoder processes pinned to a core
// each (benchFleet).
func benchPlayable(ctx context.Context, bin string, runs int, long bool) ([]row, []string, error) {
	sources := playableSources(long)
	paths, err := generate(ctx, sources)
	if err != nil {
		return nil, nil, err
	}
	type times struct{ playable, all []time.Duration }
	measured := map[string]map[bool]*times{}
	for _, early := range []bool{true, false} {
		dev, err := startDevStack(ctx, bin, fmt.Sprintf("TRANSCODER_PUBLISH_EARLY=%v", early))
		if err != nil {
			return nil, nil, err
		}
		for _, s := range sources {
			if !early && !s.baseline {
				continue
			}
			if measured[s.name] == nil {
				measured[s.name] = map[bool]*times{}
			}
			m := &times{}
			measured[s.name][early] = m
			for range runs {
				p, a, err := timeUpload(ctx, bin, dev, paths[s.name])
				if err != nil {
					dev.stop()
					return nil, nil, fmt.Errorf("%s: %w", s.name, err)
				}
				m.playable, m.all = append(m.playable, p), append(m.all, a)
			}
		}
		dev.stop()
	}
	cmd := fmt.Sprintf("make build && go run ./bench -only playable -playable-runs %d", runs)
	var rows []row
	for _, s := range sources {
		e := measured[s.name][true]
		target := map[bool]string{true: "≤ 10 s", false: "≤ 3 s"}[strings.HasPrefix(s.name, "vp9")]
		if !s.baseline {
			rows = append(rows,
				row{"time to playable, " + s.what, fmt.Sprintf("%.2f s", median(e.playable).Seconds()), target, cmd},
				row{"time to every rendition, " + s.what, fmt.Sprintf("%.1f s", median(e.all).Seconds()), "–", cmd})
			continue
		}
		l := measured[s.name][false]
		rows = append(rows,
			row{"time to playable, " + s.what, fmt.Sprintf("%.2f s (ladder alone: %.1f s)", median(e.playable).Seconds(), median(l.playable).Seconds()),
				target, cmd},
			row{"time to every rendition, " + s.what, fmt.Sprintf("%.1f s (ladder alone: %.1f s, ×%.2f)", median(e.all).Seconds(),
				median(l.all).Seconds(), median(l.all).Seconds()/median(e.all).Seconds()), "no worse than the ladder alone for 10 s", cmd})
	}
	note := fmt.Sprintf("Playable: the dev stack on this machine (%d cores, load %s at the start), one transcoder worker; median of %d runs per source and mode.",
		runtime.NumCPU(), loadAverage(), runs)
	notes := []string{note}
	if long {
		fr, fn, err := benchFleet(ctx, bin, paths["h264-10min.mp4"])
		if err != nil {
			return nil, nil, fmt.Errorf("fleet: %w", err)
		}
		rows, notes = append(rows, fr...), append(notes, fn...)
	}
	return rows, notes, nil
}

// benchFleet times the ladder of file on the dev stack with 1 and with 2 transcoder
// processes, `videoforge transcoder` joined to it through its transcoder.env, each
// pinned to a core of its own (taskset), dev's own transcoder off.
func benchFleet(ctx context.Context, bin, file string) ([]row, []string, error) {
	took := map[int]time.Duration{}
	for _, n := range []int{1, 2} {
		dev, err := startDevStack(ctx, bin, "TRANSCODER_WORKERS=0")
		if err != nil {
			return nil, nil, err
		}
		env, err := os.ReadFile(filepath.Join(dev.data, "keys", "transcoder.env"))
		if err != nil {
			dev.stop()
			return nil, nil, err
		}
		var workers []*exec.Cmd
		stop := func() {
			for _, w := range workers {
				_ = w.Process.Signal(syscall.SIGTERM)
				_ = w.Wait()
			}
			dev.stop()
		}
		for i := range n {
			w := exec.CommandContext(ctx, "taskset", "-c", strconv.Itoa(i%runtime.NumCPU()), bin, "transcoder")
			w.Env = append(append(os.Environ(), strings.Fields(string(env))...), "TRANSCODER_WORKERS=1", "LOG_LEVEL=warn")
			w.Stdout, w.Stderr = io.Discard, os.Stderr
			if err := w.Start(); err != nil {
				stop()
				return nil, nil, err
			}
			workers = append(workers, w)
		}
		_, all, err := timeUpload(ctx, bin, dev, file)
		stop()
		if err != nil {
			return nil, nil, fmt.Errorf("%d transcoders: %w", n, err)
		}
		took[n] = all
	}
	cmd := "make build && go run ./bench -only playable -playable-runs 3"
	return []row{{"every rendition of H.264 1080p 10 min, 2 transcoders vs 1 (one core each)",
			fmt.Sprintf("×%.2f (%.0f s vs %.0f s)", took[1].Seconds()/took[2].Seconds(), took[2].Seconds(), took[1].Seconds()), "≥ 1.8×", cmd}},
		[]string{fmt.Sprintf("Fleet: `videoforge transcoder` processes pinned with taskset to cores 0 and 1 of %d, the dev stack unpinned beside them; one run each; load %s at the end.",
			runtime.NumCPU(), loadAverage())}, nil
}

var uploadIDs = regexp.MustCompile(`video (\d+), job (\d+)`)

// timeUpload uploads file with the upload command (not waiting for the job) and times,
// from the moment complete answered, the first playable segment and the job's end.
func timeUpload(ctx context.Context, bin string, dev *devStack, file string) (playable, all time.Duration, err error) {
	out, err := exec.CommandContext(ctx, bin, "upload", "-data", dev.data, "-user", "bench", "-gallery", dev.gallery,
		"-edge", dev.edge, "-no-wait", "-file", file).Output()
	t0 := time.Now()
	if err != nil {
		return 0, 0, fmt.Errorf("upload: %w: %s", err, out)
	}
	m := uploadIDs.FindStringSubmatch(string(out))
	if m == nil {
		return 0, 0, fmt.Errorf("upload printed no ids: %s", out)
	}
	video, job := m[1], m[2]
	tok, err := exec.CommandContext(ctx, bin, "token", "-data", dev.data, "-user", "bench").Output()
	if err != nil {
		return 0, 0, err
	}
	token := strings.TrimSpace(string(tok))
	for deadline := t0.Add(10 * time.Minute); playable == 0; time.Sleep(20 * time.Millisecond) {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("video %s never played", video)
		}
		if firstSegment(dev.edge + "/api/stream/" + video) {
			playable = time.Since(t0)
		}
	}
	for deadline := t0.Add(30 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if err := ctx.Err(); err != nil {
			return 0, 0, err // interrupted: the polls would wait the whole deadline out
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("job %s never ended", job)
		}
		var j struct{ Status string }
		if code, body := httpGet(dev.gallery+"/api/gallery/jobs/"+job, token); code == 200 && json.Unmarshal([]byte(body), &j) == nil {
			if j.Status == "failed" {
				return 0, 0, fmt.Errorf("job %s failed", job)
			}
			if j.Status == "completed" {
				return playable, time.Since(t0), nil
			}
		}
	}
}

// firstSegment tells whether the stream URL's master playlist, its first variant's
// playlist and that variant's first segment all download.
func firstSegment(streamURL string) bool {
	code, body := httpGet(streamURL, "")
	var s struct{ URL string }
	if code != 200 || json.Unmarshal([]byte(body), &s) != nil || s.URL == "" {
		return false
	}
	next := s.URL
	for range 2 { // the master, then the variant
		code, body := httpGet(next, "")
		if code != 200 {
			return false
		}
		i := slices.IndexFunc(strings.Split(body, "\n"), func(l string) bool { return l != "" && !strings.HasPrefix(l, "#") })
		if i < 0 {
			return false
		}
		next = next[:strings.LastIndex(next, "/")+1] + strings.TrimSpace(strings.Split(body, "\n")[i])
	}
	code, _ = httpGet(next, "")
	return code == 200
}

func httpGet(url, token string) (int, string) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, ""
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
