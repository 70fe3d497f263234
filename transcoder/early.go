package transcoder

import (
	"context"
	"os"
	"path/filepath"
	"slices"
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
	first.Variants = []ffmpeg.Variant{v}
	r := *t.runner
	r.Config.Preset = FirstRungPreset
	began := time.Now()
	g := t.growing(j, a, out, info, first, res, nil)
	first.Event = true
	if err := rungs(ctx, "encode", first.Variants, func(ctx context.Context) error {
		return g.encode(ctx, func(ctx context.Context) error { return r.Encode(ctx, src, out, first, nil) })
	}); err != nil {
		return ffmpeg.MasterVariant{}, err
	}
	j.logger().Info("first rung encoded", "rendition", v.Name, "took", time.Since(began).Round(time.Millisecond))
	return g.variants[0], nil
}

// growing returns the publisher of plan's variants while they are encoded; kept are
// renditions published before, which stay listed.
func (t *Transcoder) growing(j *job, a *videoforge.Attempt, out string, info *ffmpeg.Info, plan ffmpeg.Plan,
	res videoforge.JobResult, kept []ffmpeg.MasterVariant) *growing {
	g := &growing{t: t, j: j, a: a, out: out, res: res, kept: kept, stored: map[string]bool{}, published: map[string]bool{}}
	for _, v := range plan.Variants {
		g.variants = append(g.variants, t.masterVariant(v, 107, info)) // the encode's -maxrate
	}
	return g
}

// masterVariant is the master playlist's entry of a rendition published before
// ffmpeg wrote its own master: its peak bandwidth (peakPct of the video bitrate, plus
// the sound's) and size.
func (t *Transcoder) masterVariant(v ffmpeg.Variant, peakPct int, info *ffmpeg.Info) ffmpeg.MasterVariant {
	bw := v.VideoBitrate * peakPct / 100
	if info.HasAudio() {
		bw += t.cfg.FFmpeg.AudioBitrate
	}
	return ffmpeg.MasterVariant{Bandwidth: bw, Width: v.Width, Height: v.Height, URI: v.Name + "/" + layout.VariantIndex}
}

// growing publishes renditions while ffmpeg encodes them.
type growing struct {
	t         *Transcoder
	j         *job
	a         *videoforge.Attempt
	out       string
	res       videoforge.JobResult
	kept      []ffmpeg.MasterVariant // published before, listed first
	variants  []ffmpeg.MasterVariant // being encoded
	stored    map[string]bool        // segments stored so far, as <variant>/<segment>
	published map[string]bool        // variants published, by folder
}

// encode runs an encode (or remux) of g's variants that writes EVENT playlists into
// out, storing what it finishes every syncEvery and publishing each variant with its
// first segment; it returns once the encode ended and everything it made is stored.
// The stored variants' files are then removed from out, so that the final upload does
// not send them again.
func (g *growing) encode(ctx context.Context, run func(ctx context.Context) error) error {
	ectx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- run(ectx) }()
	tick := time.NewTicker(syncEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err == nil {
				err = g.sync(ctx, true)
			}
			for _, mv := range g.variants {
				if err == nil {
					err = os.RemoveAll(filepath.Join(g.out, layout.HLSDir, variantDir(mv)))
				}
			}
			return err
		case <-tick.C:
			if err := g.sync(ctx, false); err != nil {
				stop()
				<-done // its files go with the work folder
				return err
			}
		}
	}
}

// sync stores the segments ffmpeg finished since the last call, then the playlists
// that list them, and publishes the variants that got their first segment. final is
// the call after the encode ended: its playlists are the finished ones.
func (g *growing) sync(ctx context.Context, final bool) error {
	fresh := false
	for _, mv := range g.variants {
		n, err := g.syncVariant(ctx, mv, final)
		if err != nil {
			return err
		}
		if n > 0 && !g.published[variantDir(mv)] {
			g.published[variantDir(mv)], fresh = true, true
		}
	}
	if !fresh {
		return nil
	}
	return g.publish(ctx)
}

// syncVariant stores a variant's new segments and its playlist, and returns how many
// segments the playlist lists.
func (g *growing) syncVariant(ctx context.Context, mv ffmpeg.MasterVariant, final bool) (int, error) {
	dir := filepath.Join(g.out, layout.HLSDir, variantDir(mv))
	index, err := os.ReadFile(filepath.Join(dir, layout.VariantIndex))
	if os.IsNotExist(err) && !final {
		return 0, nil // no segment yet
	}
	if err != nil {
		return 0, err
	}
	if !final && !strings.HasSuffix(string(index), "\n") {
		return 0, nil // caught while being written: the next round reads it whole
	}
	prefix := g.a.Folder() + layout.HLSDir + "/" + variantDir(mv) + "/"
	var segments []string
	for _, line := range strings.Split(string(index), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") && !strings.ContainsAny(line, "/\\") {
			segments = append(segments, line)
		}
	}
	if len(segments) == 0 {
		return 0, nil
	}
	for _, s := range segments {
		if g.stored[variantDir(mv)+"/"+s] {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, s)); err != nil && !final {
			return 0, nil // listed before it is there: the next round takes it
		}
		err := g.t.patiently(ctx, g.j.logger(), "store a segment", func(ctx context.Context) error {
			return g.t.store.PutFile(ctx, prefix+s, filepath.Join(dir, s))
		})
		if err != nil {
			return 0, err
		}
		g.stored[variantDir(mv)+"/"+s] = true
	}
	// The playlist as read lists only segments stored now.
	err = g.t.patiently(ctx, g.j.logger(), "store a growing playlist", func(ctx context.Context) error {
		return g.t.store.Put(ctx, prefix+layout.VariantIndex, strings.NewReader(string(index)))
	})
	return len(segments), err
}

// add stores a variant that is complete in out (a chunked ladder's stitched rung)
// and publishes it with the others; its files are then removed from out, as encode's.
func (g *growing) add(ctx context.Context, mv ffmpeg.MasterVariant) error {
	if _, err := g.syncVariant(ctx, mv, true); err != nil {
		return err
	}
	for i := range g.variants {
		if variantDir(g.variants[i]) == variantDir(mv) {
			g.variants[i] = mv
		}
	}
	g.published[variantDir(mv)] = true
	if err := g.publish(ctx); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(g.out, layout.HLSDir, variantDir(mv)))
}

// publish stores a master playlist of the renditions kept and published so far and
// publishes them.
func (g *growing) publish(ctx context.Context) error {
	list := slices.Clone(g.kept)
	for _, mv := range g.variants {
		if g.published[variantDir(mv)] {
			list = append(list, mv)
		}
	}
	slices.SortStableFunc(list, func(x, y ffmpeg.MasterVariant) int { return min(y.Width, y.Height) - min(x.Width, x.Height) })
	// Beside the output folder: ffmpeg writes its own master into it, which the commit reads.
	master := g.out + ".published.m3u8"
	if err := ffmpeg.WriteMaster(master, list); err != nil {
		return err
	}
	err := g.t.patiently(ctx, g.j.logger(), "store the master playlist", func(ctx context.Context) error {
		return g.t.store.PutFile(ctx, g.a.Folder()+layout.MasterPlaylist, master)
	})
	if err != nil {
		return err
	}
	res := g.res
	res.Renditions = renditions(g.a.Folder(), list)
	err = g.t.patiently(ctx, g.j.logger(), "publish renditions", func(ctx context.Context) error {
		_, err := g.t.jobs.PublishRenditions(ctx, g.a, res)
		return err
	})
	if err != nil {
		return err
	}
	g.j.published.Store(true)
	g.j.logger().Info("published renditions while they are encoded", "renditions", len(list))
	g.t.hook("published")
	return nil
}

// variantDir is the folder of a master playlist's variant inside layout.HLSDir.
func variantDir(mv ffmpeg.MasterVariant) string {
	dir, _, _ := strings.Cut(mv.URI, "/")
	return dir
}
