// Package sqs implements the transcoder's job queue on Amazon SQS (or a server that
// speaks its JSON protocol): long polling, a heartbeat that extends the visibility
// timeout, delete after commit, and the redrive policy's dead-letter queue.
package sqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/videoforge/videoforge/telemetry"
	"github.com/videoforge/videoforge/transcoder"
)

// Limits of SQS.
const (
	MaxWait       = 20 * time.Second // longest long poll
	MaxVisibility = 12 * time.Hour   // longest visibility timeout
)

// Config says which queue to use and how.
type Config struct {
	URL        string        // SQS_QUEUE_URL
	Visibility time.Duration // how long a received message stays invisible without a heartbeat
	PollWait   time.Duration // long-poll time of Receive, at most 20 s
}

// Queue is an SQS queue.
type Queue struct {
	c   *awssqs.Client
	cfg Config
}

var _ transcoder.Queue = (*Queue)(nil)

// ClientConfig says how to reach SQS.
type ClientConfig struct {
	Region    string // AWS_REGION; the SDK's chain when empty
	Endpoint  string // SQS_ENDPOINT, for SQS-compatible servers
	AccessKey string // with SecretKey, replaces the SDK's credential chain
	SecretKey string
}

// NewClient returns an SQS client.
func NewClient(ctx context.Context, cc ClientConfig) (*awssqs.Client, error) {
	var opts []func(*config.LoadOptions) error
	if cc.Region != "" {
		opts = append(opts, config.WithRegion(cc.Region))
	} else if cc.Endpoint != "" {
		opts = append(opts, config.WithRegion("us-east-1"))
	}
	if cc.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cc.AccessKey, cc.SecretKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("sqs: load AWS config: %w", err)
	}
	return awssqs.NewFromConfig(awsCfg, func(o *awssqs.Options) {
		if cc.Endpoint != "" {
			o.BaseEndpoint = aws.String(cc.Endpoint)
		}
	}), nil
}

// New returns the queue at cfg.URL.
func New(c *awssqs.Client, cfg Config) (*Queue, error) {
	if cfg.URL == "" {
		return nil, errors.New("SQS_QUEUE_URL is not set")
	}
	if cfg.Visibility <= 0 {
		cfg.Visibility = 60 * time.Second
	}
	if cfg.PollWait <= 0 || cfg.PollWait > MaxWait {
		cfg.PollWait = MaxWait
	}
	return &Queue{c: c, cfg: cfg}, nil
}

func seconds(d time.Duration) int32 {
	return int32(min(max(d, 0), MaxVisibility).Round(time.Second) / time.Second)
}

// Send adds a message. On a FIFO queue id is the de-duplication id.
func (q *Queue) Send(ctx context.Context, id string, body []byte) error {
	in := &awssqs.SendMessageInput{QueueUrl: aws.String(q.cfg.URL), MessageBody: aws.String(string(body))}
	// ctx's trace context (traceparent) goes as a message attribute, so that the job's
	// span continues the trace of the upload's complete.
	attrs := attributeCarrier{}
	telemetry.Inject(ctx, attrs)
	if len(attrs) > 0 {
		in.MessageAttributes = attrs
	}
	if strings.HasSuffix(q.cfg.URL, ".fifo") {
		in.MessageGroupId = aws.String(id)
		in.MessageDeduplicationId = aws.String(id)
	}
	if _, err := q.c.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("sqs: send: %w", err)
	}
	return nil
}

// Receive long-polls for one message.
func (q *Queue) Receive(ctx context.Context) (transcoder.Delivery, error) {
	out, err := q.c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(q.cfg.URL),
		MaxNumberOfMessages:         1,
		WaitTimeSeconds:             seconds(q.cfg.PollWait),
		VisibilityTimeout:           seconds(q.cfg.Visibility),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		MessageAttributeNames:       traceAttributes,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("sqs: receive: %w", err)
	}
	if len(out.Messages) == 0 {
		return nil, nil
	}
	m := out.Messages[0]
	attempt, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	return &delivery{q: q, body: []byte(aws.ToString(m.Body)), handle: aws.ToString(m.ReceiptHandle), attempt: max(attempt, 1),
		attrs: m.MessageAttributes}, nil
}

type delivery struct {
	q       *Queue
	body    []byte
	handle  string
	attempt int
	attrs   map[string]types.MessageAttributeValue
}

func (d *delivery) Body() []byte { return d.body }
func (d *delivery) Attempt() int { return d.attempt }

// TraceContext returns ctx with the sender's trace context, from the message's
// attributes.
func (d *delivery) TraceContext(ctx context.Context) context.Context {
	return telemetry.Extract(ctx, attributeCarrier(d.attrs))
}

// traceAttributes are the message attributes a receive asks for: the W3C trace context.
var traceAttributes = []string{"traceparent", "tracestate"}

// attributeCarrier carries a trace context in SQS message attributes (String values).
type attributeCarrier map[string]types.MessageAttributeValue

func (c attributeCarrier) Get(key string) string {
	if v, ok := c[key]; ok {
		return aws.ToString(v.StringValue)
	}
	return ""
}

func (c attributeCarrier) Set(key, value string) {
	c[key] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(value)}
}

func (c attributeCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

func (d *delivery) visibility(ctx context.Context, t time.Duration) error {
	_, err := d.q.c.ChangeMessageVisibility(ctx, &awssqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(d.q.cfg.URL), ReceiptHandle: aws.String(d.handle), VisibilityTimeout: seconds(t),
	})
	return err
}

// Extend sets the message's visibility timeout to d from now.
func (d *delivery) Extend(ctx context.Context, t time.Duration) error {
	if err := d.visibility(ctx, t); err != nil {
		return fmt.Errorf("sqs: heartbeat: %w", err)
	}
	return nil
}

// Ack deletes the message.
func (d *delivery) Ack(ctx context.Context) error {
	_, err := d.q.c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(d.q.cfg.URL), ReceiptHandle: aws.String(d.handle)})
	if err != nil {
		return fmt.Errorf("sqs: delete: %w", err)
	}
	return nil
}

// Release makes the message visible again after delay.
func (d *delivery) Release(ctx context.Context, delay time.Duration) error {
	if err := d.visibility(ctx, delay); err != nil {
		return fmt.Errorf("sqs: release: %w", err)
	}
	return nil
}

// CreateQueues creates (or finds) a queue and its dead-letter queue, name-dlq, with a
// redrive policy that moves a message there after maxReceives receives, and returns
// both URLs. In AWS, deploy/terraform creates them; this is for local servers and tests.
func CreateQueues(ctx context.Context, c *awssqs.Client, name string, maxReceives int, visibility time.Duration) (url, deadURL string, err error) {
	dlq, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(name + "-dlq"),
		Attributes: map[string]string{"MessageRetentionPeriod": "1209600"}})
	if err != nil {
		return "", "", fmt.Errorf("sqs: create %s-dlq: %w", name, err)
	}
	attrs, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", "", fmt.Errorf("sqs: %s-dlq ARN: %w", name, err)
	}
	redrive, _ := json.Marshal(map[string]any{
		"deadLetterTargetArn": attrs.Attributes[string(types.QueueAttributeNameQueueArn)],
		"maxReceiveCount":     strconv.Itoa(maxReceives),
	})
	q, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{
		"RedrivePolicy":     string(redrive),
		"VisibilityTimeout": strconv.Itoa(int(seconds(visibility))),
	}})
	if err != nil {
		return "", "", fmt.Errorf("sqs: create %s: %w", name, err)
	}
	return aws.ToString(q.QueueUrl), aws.ToString(dlq.QueueUrl), nil
}
