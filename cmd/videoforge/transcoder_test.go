package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

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
		err := run(context.Background(), []string{"transcoder"}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: got %v, want an error naming %s", tc.env, err, tc.want)
		}
	}
}
