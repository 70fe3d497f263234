package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/videoforge/videoforge/transcoder/ffmpeg"
)

func TestParseLadder(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []ffmpeg.Rung
		err  string
	}{
		{"720p:720:2800k, 360p:360:0.8M", []ffmpeg.Rung{{Name: "720p", Height: 720, VideoBitrate: 2800000}, {Name: "360p", Height: 360, VideoBitrate: 800000}}, ""},
		{"x:240:400000", []ffmpeg.Rung{{Name: "x", Height: 240, VideoBitrate: 400000}}, ""},
		{formatLadder(ffmpeg.DefaultConfig().Rungs), ffmpeg.DefaultConfig().Rungs, ""},
		{"", nil, "empty"},
		{"720p:720", nil, "name:height:bitrate"},
		{"720p:tall:1M", nil, "not a number"},
		{"720p:720:fast", nil, "bitrate"},
		{"721p:721:1M", nil, "even"},
		{"a:720:1M,a:480:1M", nil, "twice"},
	} {
		got, err := parseLadder(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseLadder(%q): %v, want an error saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("parseLadder(%q) = %v, %v", tc.in, got, err)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("parseLadder(%q)[%d] = %+v, want %+v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func TestTranscoderConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1/db", "S3_BUCKET_NAME": "b", "TRANSCODER_LADDER": "bad"}, "TRANSCODER_LADDER"},
		{map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1/db", "S3_BUCKET_NAME": "b", "TRANSCODER_WORKERS": "0"}, "TRANSCODER_WORKERS"},
		{map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1/db", "NATS_URL": "nats://127.0.0.1:1"}, "S3_BUCKET_NAME"},
		{map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1/db", "S3_BUCKET_NAME": "b"}, "SQS_QUEUE_URL"},
		{map[string]string{"S3_BUCKET_NAME": "b", "SQS_QUEUE_URL": "http://q"}, "DATABASE_URL"},
	} {
		for _, k := range []string{"DATABASE_URL", "DB_HOST", "S3_BUCKET_NAME", "NATS_URL", "SQS_QUEUE_URL", "TRANSCODER_LADDER", "TRANSCODER_WORKERS"} {
			t.Setenv(k, tc.env[k])
			if _, ok := tc.env[k]; !ok {
				os.Unsetenv(k)
			}
		}
		err := runTranscoder(context.Background(), nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: got %v, want an error naming %s", tc.env, err, tc.want)
		}
	}
}
