package ffmpeg

import (
	"strings"
)

// demuxer is one container VideoForge reads uploads in.
type demuxer struct {
	name  string // the demuxer's name as ffprobe reports it in format_name
	short string // what -f and -format_whitelist take
}

// demuxers is the allow-list of input containers: single-file media containers whose
// demuxers in ffmpeg 5.1 read their own bytes and nothing else. Everything else is
// refused, above all the formats that name other inputs (hls, dash, concat, imf,
// webm_dash_manifest), read file patterns or other devices (image2, the *_pipe
// image demuxers, lavfi, tty, sdp, rtp, data) or guess timing of raw elementary
// streams (h264, hevc, mpegvideo). Of the allowed ones, only mov can reference an
// external file (an "alis" data reference); its demuxer opens none unless
// -enable_drefs is set, and the encode says -enable_drefs 0 besides.
//
// The names are matched exactly against ffprobe's format_name, which is the demuxer's
// whole name list ("mov,mp4,m4a,3gp,3g2,mj2"), so that "mpeg" is never mistaken for
// "mpegvideo" nor "mpegts" for "mpegtsraw". ffmpeg checks the whitelist the same way,
// element against element, after detection and before reading any header.
var demuxers = []demuxer{
	{"mov,mp4,m4a,3gp,3g2,mj2", "mov"}, // MP4, QuickTime, 3GP
	{"matroska,webm", "matroska"},      // MKV, WebM
	{"avi", "avi"},
	{"mpegts", "mpegts"}, // MPEG transport stream (.ts, .m2ts, .mts)
	{"flv", "flv"},
	{"ogg", "ogg"},   // Ogg Theora
	{"mxf", "mxf"},   // broadcast and camera MXF
	{"asf", "asf"},   // WMV
	{"mpeg", "mpeg"}, // MPEG program stream (.mpg, .vob)
}

// formatWhitelist is every allowed demuxer, as -format_whitelist takes it.
var formatWhitelist = func() string {
	var names []string
	for _, d := range demuxers {
		names = append(names, d.short)
	}
	return strings.Join(names, ",")
}()

// AllowedFormat returns the short demuxer name ("mov", "matroska", …) of format, which
// is ffprobe's format_name or a short name itself, and whether VideoForge reads that
// container at all.
func AllowedFormat(format string) (string, bool) {
	for _, d := range demuxers {
		if format == d.name || format == d.short {
			return d.short, true
		}
	}
	return "", false
}

// InputArgs returns the options that open a source for ffmpeg or ffprobe, ending with
// the input itself: only the file protocol (so that nothing the file names over
// another protocol is opened), only the allowed demuxers (so that a playlist, manifest
// or concat list is refused before it is read), and, when format is an allowed
// container, that demuxer alone, so that an encode reads the source as the container
// its probe accepted. The path is given as a file: URL, so that no part of it is
// taken for a protocol nor, starting with "-", for an option.
//
// A path that is an http:// URL (the transcoder's loopback source server, which reads
// the source from storage in ranges) is opened over http and tcp instead of file, with
// the same demuxer allow-list: none of the allowed demuxers opens another input, so
// nothing but that URL is read.
func InputArgs(path, format string) []string {
	protocols := "file"
	if IsURL(path) {
		protocols = "http,tcp"
	}
	args := []string{"-protocol_whitelist", protocols, "-format_whitelist", formatWhitelist}
	if short, ok := AllowedFormat(format); ok {
		args = append(args, "-f", short)
		if short == "mov" {
			args = append(args, "-enable_drefs", "0")
		}
	}
	return append(args, "-i", inputURL(path))
}

// IsURL reports whether a source path is an http:// URL rather than a file.
func IsURL(path string) bool {
	return strings.HasPrefix(path, "http://")
}

// inputURL returns path as an input URL: a file: URL for a file, the URL itself for one.
func inputURL(path string) string {
	if IsURL(path) {
		return path
	}
	return "file:" + path
}
