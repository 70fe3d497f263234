package sqs_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/transcoder/queuetest"
	"github.com/videoforge/videoforge/transcoder/sqs"
	"github.com/videoforge/videoforge/transcoder/sqs/sqstest"
)

var n atomic.Int64

func TestContract(t *testing.T) {
	endpoint := sqstest.Start(t)
	queuetest.Run(t, func(t *testing.T, opt queuetest.Options) (transcoder.Queue, transcoder.Queue) {
		ctx := context.Background()
		c, err := sqs.NewClient(ctx, sqs.ClientConfig{Endpoint: endpoint, Region: "us-east-1", AccessKey: "test", SecretKey: "test"})
		if err != nil {
			t.Fatal(err)
		}
		url, deadURL, err := sqs.CreateQueues(ctx, c, fmt.Sprintf("jobs-%d", n.Add(1)), opt.MaxReceives, opt.Visibility)
		if err != nil {
			t.Fatal(err)
		}
		q, err := sqs.New(c, sqs.Config{URL: url, Visibility: opt.Visibility, PollWait: opt.PollWait})
		if err != nil {
			t.Fatal(err)
		}
		dead, err := sqs.New(c, sqs.Config{URL: deadURL, Visibility: opt.Visibility, PollWait: opt.PollWait})
		if err != nil {
			t.Fatal(err)
		}
		return q, dead
	})
}
