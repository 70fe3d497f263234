// Package layout names every object of VideoForge's bucket: uploads' sources and each
// video's folder, attempts, playlists, segments, thumbnail and storyboard.
package layout

import (
	"strconv"
	"strings"
)

// The folders at the top of the bucket, and the URL path prefixes of the media server
// that mirror them: an object's path is "/" followed by its key.
const (
	// UploadsFolder holds each job's upload, uploads/<jobId>/.
	UploadsFolder = "uploads/"
	// VideosFolder holds each video's folder, videos/<id>/, everything the video
	// plays; one playback token covers one such folder.
	VideosFolder = "videos/"
	// UploadsPath is the URL path prefix of uploads on the media server.
	UploadsPath = "/" + UploadsFolder
	// VideosPath is the URL path prefix of videos' objects on the media server and
	// the CDN.
	VideosPath = "/" + VideosFolder
)

// SourceFile is the name of a job's source inside its upload folder.
const SourceFile = "source"

// Names of the files a job writes into its output folder, relative to it; the same
// paths are the objects' keys relative to the attempt's folder (AttemptFolder).
const (
	HLSDir          = "hls"                     // the ladder: hls/master.m3u8 and hls/<variant>/…
	MasterFile      = "master.m3u8"             // the master playlist's name inside HLSDir
	MasterPlaylist  = HLSDir + "/" + MasterFile // written last to storage
	VariantIndex    = "index.m3u8"              // each variant's playlist, hls/<variant>/index.m3u8
	SegmentPattern  = "seg_%04d.ts"             // each variant's segments, numbered from 0 (ffmpeg's pattern)
	ThumbnailFile   = "thumbnail.jpg"           // one frame
	StoryboardImage = "storyboard.jpg"          // the sprite of tiles
	StoryboardVTT   = "storyboard.vtt"          // WebVTT cues pointing into the sprite
	attemptMark     = "a"                       // an attempt's folder is a<token>
)

// UploadFolder returns the folder of a job's upload, uploads/<jobId>/: its source and
// whatever a resumable upload keeps beside it.
func UploadFolder(jobID int64) string {
	return UploadsFolder + strconv.FormatInt(jobID, 10) + "/"
}

// UploadKey returns the object key of a job's source, uploads/<jobId>/source.
func UploadKey(jobID int64) string {
	return UploadFolder(jobID) + SourceFile
}

// ParseUploadKey returns the job whose source key (UploadKey) is key.
func ParseUploadKey(key string) (jobID int64, ok bool) {
	ids, ok := strings.CutPrefix(key, UploadsFolder)
	if !ok {
		return 0, false
	}
	ids, ok = strings.CutSuffix(ids, "/"+SourceFile)
	id, err := strconv.ParseInt(ids, 10, 64)
	if !ok || err != nil || UploadKey(id) != key {
		return 0, false
	}
	return id, true
}

// VideoPrefix returns the folder of a video's objects, videos/<id>/.
func VideoPrefix(videoID int64) string {
	return VideosFolder + strconv.FormatInt(videoID, 10) + "/"
}

// AttemptFolder returns the folder of one job attempt's results inside its video's
// folder, videos/<id>/a<token>/.
func AttemptFolder(videoID, token int64) string {
	return VideoPrefix(videoID) + attemptMark + strconv.FormatInt(token, 10) + "/"
}

// ChunksFolder returns the folder of a chunked attempt's chunk encodes inside its
// attempt folder, videos/<id>/a<token>/chunks/: removed once they are stitched.
func ChunksFolder(videoID, token int64) string {
	return AttemptFolder(videoID, token) + "chunks/"
}

// ChunkFolder returns the folder of one claim's encode of chunk index,
// videos/<id>/a<token>/chunks/<index>-c<claim>/: each claim writes its own, and the
// catalog says which claim's is the chunk's.
func ChunkFolder(videoID, token int64, index int, claim int64) string {
	return ChunksFolder(videoID, token) + strconv.Itoa(index) + "-c" + strconv.FormatInt(claim, 10) + "/"
}

// VariantPlaylist returns the path of a variant's playlist relative to the folder of
// a video's results, hls/<name>/index.m3u8.
func VariantPlaylist(name string) string {
	return HLSDir + "/" + name + "/" + VariantIndex
}

// SplitVideoKey parses a key inside a video's folder, videos/<id>/<rest>, with the id
// in canonical decimal (no sign, no leading zero) and a rest that is not empty. The id
// may be 0, which no video has; the rest is returned as it is, for the caller to check
// before it opens anything.
func SplitVideoKey(key string) (videoID int64, rest string, ok bool) {
	tail, ok := strings.CutPrefix(key, VideosFolder)
	if !ok {
		return 0, "", false
	}
	ids, rest, ok := strings.Cut(tail, "/")
	if !ok || rest == "" || !canonical(ids) {
		return 0, "", false
	}
	id, err := strconv.ParseInt(ids, 10, 64)
	if err != nil {
		return 0, "", false
	}
	return id, rest, true
}

// canonical reports whether s is a decimal number as strconv.FormatInt writes a
// non-negative one.
func canonical(s string) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
