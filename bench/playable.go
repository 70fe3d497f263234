package main

import (
	"context"
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
	"strings"
	"time"
)

// playableSource is a generated upload of the playable benchmark.
type playableSource struct {
	name, what string
	args       []string // ffmpeg's, before the output file
}

// playableSources are a phone's kind of uploads: 1080p H.264 at about 10 Mb/s (noise,
// so that encoding is not trivial), one of them with its index (moov) at the end, and
// a VP9 one that has to be encoded before it plays.
func playableSources() []playableSource {
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
	return []playableSource{
		{"h264-10s.mp4", "H.264 1080p 10 s", h264(10, true)},
		{"h264-1min.mp4", "H.264 1080p 1 min, moov at the end", h264(60, false)},
		{"vp9-1min.webm", "VP9 720p 1 min", []string{"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=60,noise=alls=8:allf=t",
			"-f", "lavfi", "-i", "sine=frequency=440:duration=60", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
			"-b:v", "3M", "-row-mt", "1", "-c:a", "libopus", "-shortest"}},
	}
}

// benchPlayable measures, on the videoforge binary's dev stack, how long an upload
// takes to play and to have every rendition: from complete answered until the edge
// gives a stream URL whose master, first variant and first segment all download, and
// until the job completed. Each source runs runs times with the early publishing and
// as many with the ladder alone (TRANSCODER_PUBLISH_EARLY=false), medians side by side.
func benchPlayable(ctx context.Context, bin string, runs int) ([]row, []string, error) {
	dir, err := os.MkdirTemp("", "vfbench-playable-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	sources := playableSources()
	for _, s := range sources {
		args := append([]string{"-hide_banner", "-loglevel", "error", "-y"}, append(s.args, filepath.Join(dir, s.name))...)
		if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
			return nil, nil, fmt.Errorf("generate %s: %v: %s", s.name, err, out)
		}
	}
	type times struct{ playable, all []time.Duration }
	measured := map[string]map[bool]*times{}
	for _, early := range []bool{true, false} {
		dev, err := startDevStack(ctx, bin, fmt.Sprintf("TRANSCODER_PUBLISH_EARLY=%v", early))
		if err != nil {
			return nil, nil, err
		}
		for _, s := range sources {
			if measured[s.name] == nil {
				measured[s.name] = map[bool]*times{}
			}
			m := &times{}
			measured[s.name][early] = m
			for range runs {
				p, a, err := timeUpload(ctx, bin, dev, filepath.Join(dir, s.name))
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
		e, l := measured[s.name][true], measured[s.name][false]
		rows = append(rows,
			row{"time to playable, " + s.what, fmt.Sprintf("%.2f s (ladder alone: %.1f s)", median(e.playable).Seconds(), median(l.playable).Seconds()),
				map[bool]string{true: "≤ 10 s", false: "≤ 3 s"}[strings.HasPrefix(s.name, "vp9")], cmd},
			row{"time to every rendition, " + s.what, fmt.Sprintf("%.1f s (ladder alone: %.1f s, ×%.2f)", median(e.all).Seconds(),
				median(l.all).Seconds(), median(l.all).Seconds()/median(e.all).Seconds()), "no worse than the ladder alone for 10 s", cmd})
	}
	note := fmt.Sprintf("Playable: the dev stack on this machine (%d cores), one transcoder worker; median of %d runs per source and mode.", runtime.NumCPU(), runs)
	return rows, []string{note}, nil
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
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("video %s never played", video)
		}
		if firstSegment(dev.edge + "/api/stream/" + video) {
			playable = time.Since(t0)
		}
	}
	for deadline := t0.Add(30 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
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
