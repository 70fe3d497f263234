package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
)

// edgeRows records what an EdgeCatalog sends, copying the rows as a sink must.
type edgeRows struct {
	videos     []videoforge.EdgeVideoRow
	renditions []videoforge.EdgeRenditionRow
	stopAfter  int // renditions accepted before stopping; 0 for all
}

func (r *edgeRows) Video(v *videoforge.EdgeVideoRow) {
	if len(r.renditions) > 0 {
		panic("a video after a rendition")
	}
	c := *v
	c.Owner = slices.Clone(v.Owner)
	r.videos = append(r.videos, c)
}

func (r *edgeRows) Rendition(x *videoforge.EdgeRenditionRow) bool {
	c := *x
	c.Name, c.Playlist = slices.Clone(x.Name), slices.Clone(x.Playlist)
	r.renditions = append(r.renditions, c)
	return r.stopAfter == 0 || len(r.renditions) < r.stopAfter
}

func (r *edgeRows) ids() (ids []int64) {
	for _, v := range r.videos {
		ids = append(ids, v.ID)
	}
	return ids
}

func (r *edgeRows) renditionIDs() (ids []int64) {
	for _, x := range r.renditions {
		ids = append(ids, x.VideoID)
	}
	return ids
}

func (r *edgeRows) renditionNames() (names []string) {
	for _, x := range r.renditions {
		names = append(names, string(x.Name))
	}
	return names
}

func edgeVideo(user string, vis videoforge.Visibility, status videoforge.Status, renditions ...videoforge.Rendition) *videoforge.Video {
	return &videoforge.Video{UserID: user, Title: "t", Visibility: vis, Status: status, S3Key: "videos/k", Renditions: renditions}
}

func TestEdgeCatalogReadsVideos(t *testing.T) {
	db, s := open(t)
	ctx := context.Background()
	cat := postgres.NewEdgeCatalog(db)
	if lo, hi, err := cat.VideoIDRange(ctx); err != nil || lo != 0 || hi != 0 {
		t.Fatalf("empty catalog: %d %d %v", lo, hi, err)
	}
	r720 := videoforge.Rendition{Name: "720p", Width: 1280, Height: 720, Bandwidth: 2_800_000, Playlist: "videos/k/hls/720p/index.m3u8"}
	r1080 := videoforge.Rendition{Name: "1080p", Width: 1920, Height: 1080, Bandwidth: 5_000_000, Playlist: "hls/1080p/index.m3u8"}
	r360 := videoforge.Rendition{Name: "360p", Width: 640, Height: 360, Bandwidth: 800_000, Playlist: "hls/360p/index.m3u8"}
	vs := []*videoforge.Video{
		edgeVideo("alice", videoforge.Public, videoforge.StatusReady, r720, r1080),
		edgeVideo("bob", videoforge.Unlisted, videoforge.StatusReady, r360),
		edgeVideo("carol", videoforge.Private, videoforge.StatusProcessing),
		edgeVideo("alice", videoforge.Public, videoforge.StatusReady, r1080),
	}
	for _, v := range vs {
		if err := s.CreateVideo(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	lo, hi, err := cat.VideoIDRange(ctx)
	if err != nil || lo != vs[0].ID || hi != vs[3].ID {
		t.Fatalf("id range: %d %d %v, want %d %d", lo, hi, err, vs[0].ID, vs[3].ID)
	}

	var all edgeRows
	if err := cat.ReadVideoRange(ctx, lo-1, hi, 100, &all); err != nil {
		t.Fatal(err)
	}
	if len(all.videos) != len(vs) {
		t.Fatalf("read %d videos, want %d", len(all.videos), len(vs))
	}
	for i, got := range all.videos {
		want := vs[i]
		share := ""
		if want.Visibility == videoforge.Unlisted {
			share = want.ShareKey
		}
		if got.ID != want.ID || got.Version != want.Version || got.UpdatedAt.UnixMicro() != want.UpdatedAt.UnixMicro() ||
			got.Visibility != want.Visibility || got.Ready != (want.Status == videoforge.StatusReady) ||
			string(got.Owner) != want.UserID || got.S3Key != want.S3Key || got.TokenGen != want.TokenGen || got.ShareKey != share {
			t.Errorf("video %d: %+v, want %+v", i, got, want)
		}
	}
	if vs[1].ShareKey == "" {
		t.Error("the unlisted video has no share key")
	}
	ids, names := all.renditionIDs(), all.renditionNames()
	if want := []int64{vs[0].ID, vs[0].ID, vs[1].ID, vs[3].ID}; !slices.Equal(ids, want) {
		t.Errorf("renditions of %v, want %v", ids, want)
	}
	if want := []string{"1080p", "720p", "360p", "1080p"}; !slices.Equal(names, want) { // height descending
		t.Errorf("renditions %v, want %v", names, want)
	}
	if got := all.renditions[1]; int(got.Width) != r720.Width || int(got.Height) != r720.Height || int(got.Bandwidth) != r720.Bandwidth ||
		string(got.Playlist) != r720.Playlist {
		t.Errorf("rendition %+v, want %+v", got, r720)
	}

	// The range excludes lo, includes hi, and its renditions are those of the videos read.
	var page edgeRows
	if err := cat.ReadVideoRange(ctx, vs[0].ID, hi, 1, &page); err != nil {
		t.Fatal(err)
	}
	if ids, rids := page.ids(), page.renditionIDs(); !slices.Equal(ids, []int64{vs[1].ID}) || !slices.Equal(rids, []int64{vs[1].ID}) {
		t.Errorf("page after %d: videos %v, renditions of %v", vs[0].ID, ids, rids)
	}
	var none edgeRows
	if err := cat.ReadVideoRange(ctx, hi, hi+10, 10, &none); err != nil || len(none.videos) != 0 || len(none.renditions) != 0 {
		t.Errorf("past the end: %+v %v", none, err)
	}

	// By ids: those that exist, in id order; the sink may stop the renditions.
	var some edgeRows
	if err := cat.ReadVideosByID(ctx, []int64{vs[3].ID, 987654321, vs[0].ID}, &some); err != nil {
		t.Fatal(err)
	}
	if ids, rids := some.ids(), some.renditionIDs(); !slices.Equal(ids, []int64{vs[0].ID, vs[3].ID}) ||
		!slices.Equal(rids, []int64{vs[0].ID, vs[0].ID, vs[3].ID}) {
		t.Errorf("by ids: videos %v, renditions of %v", ids, rids)
	}
	stopped := edgeRows{stopAfter: 1}
	if err := cat.ReadVideosByID(ctx, []int64{vs[0].ID, vs[3].ID}, &stopped); err != nil || len(stopped.renditions) != 1 {
		t.Errorf("stopped after one rendition: %d renditions, %v", len(stopped.renditions), err)
	}
	var missing edgeRows
	if err := cat.ReadVideosByID(ctx, []int64{987654321}, &missing); err != nil || len(missing.videos) != 0 {
		t.Errorf("unknown id: %+v %v", missing, err)
	}
}

func TestEdgeCatalogChangesAndViews(t *testing.T) {
	db, s := open(t)
	ctx := context.Background()
	cat := postgres.NewEdgeCatalog(db)
	var vs []*videoforge.Video
	for range 5 {
		v := edgeVideo("alice", videoforge.Public, videoforge.StatusReady)
		if err := s.CreateVideo(ctx, v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	now, err := cat.Now(ctx)
	if err != nil || time.Since(now).Abs() > time.Minute {
		t.Fatalf("database clock %v, %v", now, err)
	}

	ids, at, err := cat.ChangedSince(ctx, now.Add(-time.Hour))
	if err != nil || len(ids) != len(vs) || at.Before(now) {
		t.Fatalf("changed in the last hour: %v at %v, %v", ids, at, err)
	}
	title := "new"
	if _, err := s.UpdateVideo(ctx, vs[2].ID, "alice", videoforge.VideoUpdate{Title: &title}); err != nil {
		t.Fatal(err)
	}
	if ids, _, err := cat.ChangedSince(ctx, at); err != nil || !slices.Equal(ids, []int64{vs[2].ID}) {
		t.Errorf("changed since %v: %v, %v", at, ids, err)
	}

	// Versions come in pages of ids after the given one.
	var got, versions []int64
	for after := int64(0); ; {
		is, vers, err := cat.Versions(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(is) == 0 {
			break
		}
		if len(is) > 2 || len(vers) != len(is) {
			t.Fatalf("page after %d: %v %v", after, is, vers)
		}
		got, versions = append(got, is...), append(versions, vers...)
		after = is[len(is)-1]
	}
	for i, v := range vs {
		want := v.Version
		if i == 2 {
			want++
		}
		if got[i] != v.ID || versions[i] != want {
			t.Errorf("version %d: id %d version %d, want id %d version %d", i, got[i], versions[i], v.ID, want)
		}
	}

	// Views are added without a new version.
	if err := cat.AddViews(ctx, []int64{vs[0].ID, vs[4].ID}, []int64{3, 7}); err != nil {
		t.Fatal(err)
	}
	if err := cat.AddViews(ctx, []int64{vs[4].ID}, []int64{1}); err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]int64{0: 3, 1: 0, 4: 8} {
		var views, version int64
		if err := db.Pool().QueryRow(ctx, `SELECT views, version FROM videos WHERE id = $1`, vs[i].ID).Scan(&views, &version); err != nil {
			t.Fatal(err)
		}
		if views != want || version != vs[i].Version {
			t.Errorf("video %d: %d views at version %d, want %d at %d", i, views, version, want, vs[i].Version)
		}
	}
}
