// Package transcoder turns uploads into HLS ladders: a supervisor runs N worker actors
// that take job messages from a Queue, encode with ffmpeg, store the results and commit
// them through the catalog, restarting any worker that crashes.
package transcoder
