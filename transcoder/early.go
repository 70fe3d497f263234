package transcoder

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/transcoder/ffmpeg"
)

// FirstRungPreset is the x264 preset of the rung encoded first for a source browsers
// cannot play as it is: speed over size, as it is published while it is encoded.
const FirstRungPreset = "ultrafast"

// syncEvery is how often a growing rendition's new segments are stored and published.
const syncEvery = 250 * time.Millisecond

// publishFirstRung encodes the plan's smallest variant first, fast, as a playlist that
// grows segment by segment; its segments are stored as they land and the rendition is
// published with the first of them, so that the video plays within seconds while the
// rest of it is still being encoded. It returns the variant, complete.
func (t *Transcoder) publishFirstRung(ctx context.Context, j *job, a *videoforge.Attempt, src, out string, info *ffmpeg.Info,
	plan ffmpeg.Plan, res videoforge.JobResult) (ffmpeg.MasterVariant, error) {
	v := plan.Variants[len(plan.Variants)-1]
	first := plan
	first.Variants, first.Event = []ffmpeg.Variant{v}, true
	r := *t.runner
	r.Config.Preset = FirstRungPreset
	bw := v.VideoBitrate * 107 / 100
	if info.HasAudio() {
		bw += t.cfg.FFmpeg.AudioBitrate
	}
	mv := ffmpeg.MasterVariant{Bandwidth: bw, Width: v.Width, Height: v.Height, URI: v.Name + "/" + layout.VariantIndex}
	g := &growing{t: t, j: j, a: a, out: out, mv: mv, res: res, stored: map[string]bool{}}
	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- r.Encode(ctx, src, out, first, nil) }()
	tick := time.NewTicker(syncEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return mv, err
			}
			if err := g.sync(ctx, true); err != nil {
				return mv, err
			}
			j.logger().Info("first rung encoded", "rendition", v.Name, "took", time.Since(began).Round(time.Millisecond))
			return mv, nil
		case <-tick.C:
			if err := g.sync(ctx, false); err != nil {
				<-done // the encode ends with ctx or on its own; its files are left to the folder's removal
				return mv, err
			}
		}
	}
}

// growing is a rendition being published while it is encoded.
type growing struct {
	t         *Transcoder
	j         *job
	a         *videoforge.Attempt
	out       string
	mv        ffmpeg.MasterVariant
	res       videoforge.JobResult
	stored    map[string]bool // segments stored so far
	published bool
}

// sync stores the segments ffmpeg finished since the last call, then the playlist
// that lists them, and publishes the rendition once it has a segment. final is the
// call after the encode ended: its playlist is the finished one.
func (g *growing) sync(ctx context.Context, final bool) error {
	dir := filepath.Join(g.out, layout.HLSDir, variantDir(g.mv))
	index, err := os.ReadFile(filepath.Join(dir, layout.VariantIndex))
	if os.IsNotExist(err) && !final {
		return nil // no segment yet
	}
	if err != nil {
		return err
	}
	prefix := g.a.Folder() + layout.HLSDir + "/" + variantDir(g.mv) + "/"
	var segments []string
	for _, line := range strings.Split(string(index), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			segments = append(segments, line)
		}
	}
	if len(segments) == 0 {
		return nil
	}
	for _, s := range segments {
		if g.stored[s] || strings.ContainsAny(s, "/\\") {
			continue
		}
		err := g.t.patiently(ctx, g.j.logger(), "store a segment", func(ctx context.Context) error {
			return g.t.store.PutFile(ctx, prefix+s, filepath.Join(dir, s))
		})
		if err != nil {
			return err
		}
		g.stored[s] = true
	}
	// The playlist as read lists only segments stored now.
	err = g.t.patiently(ctx, g.j.logger(), "store a growing playlist", func(ctx context.Context) error {
		return g.t.store.Put(ctx, prefix+layout.VariantIndex, strings.NewReader(string(index)))
	})
	if err != nil || g.published {
		return err
	}
	return g.publish(ctx)
}

// publish stores a master playlist of the growing rendition alone and publishes it.
func (g *growing) publish(ctx context.Context) error {
	if err := ffmpeg.WriteMaster(g.out, []ffmpeg.MasterVariant{g.mv}); err != nil {
		return err
	}
	master := filepath.Join(g.out, layout.MasterPlaylist)
	err := g.t.patiently(ctx, g.j.logger(), "store the master playlist", func(ctx context.Context) error {
		return g.t.store.PutFile(ctx, g.a.Folder()+layout.MasterPlaylist, master)
	})
	if err != nil {
		return err
	}
	res := g.res
	res.Renditions = renditions(g.a.Folder(), []ffmpeg.MasterVariant{g.mv})
	err = g.t.patiently(ctx, g.j.logger(), "publish the first rung", func(ctx context.Context) error {
		_, err := g.t.jobs.PublishRenditions(ctx, g.a, res)
		return err
	})
	if err != nil {
		return err
	}
	g.published = true
	g.j.published.Store(true)
	g.j.logger().Info("playable: the first rung is published while it is encoded", "rendition", variantDir(g.mv), "segments", len(g.stored))
	g.t.hook("published")
	return nil
}

// variantDir is the folder of a master playlist's variant inside layout.HLSDir.
func variantDir(mv ffmpeg.MasterVariant) string {
	dir, _, _ := strings.Cut(mv.URI, "/")
	return dir
}
