// Package jetstream is the inbox on NATS JetStream: one queue that every
// gateway replica enqueues to and delivers from, so that a replica whose
// disk is lost loses no acknowledged event and a replica that is down
// delays nothing (issue 20). It is an inbox.Engine, with the bbolt inbox's
// request, headers, retry schedule and outcomes (it reuses them).
//
// Layout, for a stream base name N (default SCGATE_INBOX) and a subject
// prefix P (default scgate.inbox), every stream with file storage:
//   - N, a work-queue stream on P.q.<id>: the pending entries. Enqueue
//     publishes there and returns once the server's publish ack says the
//     entry is stored; the publish carries Nats-Msg-Id (the dedupe key,
//     or the id), so a publish repeated within DedupeWindow is stored
//     once. One durable pull consumer, N_deliver, is shared by every
//     replica: the server hands each entry to one replica at a time.
//   - N_DELIVERED, N_GONE and N_FAILED on P.delivered.<id>, P.gone.<id>
//     and P.failed.<id>: the settled entries, kept for Retain. N_FAILED
//     holds the dead letters (P.failed.> is the dead-letter subject).
//   - N_LOG on P.log.<id>: the attempt log, kept for Retain.
//
// Delivery: an entry is held by the replica it was handed to for AckWait
// (the attempt timeout plus AckMargin); a 2xx acks it (and records it
// delivered), 410 records it gone, a retry NAKs it with the schedule's
// delay (Retry-After honoured), the last attempt's failure writes the dead
// letter and then acks. A replica that dies mid-attempt never acks: the
// server hands the entry to another replica once AckWait (the consumer's
// BackOff for later deliveries) has passed. So delivery is at least once:
// an attempt answered 2xx whose ack was lost (the replica died between
// the two) is made again.
//
// The attempt budget is counted by the server's delivery count, so an
// attempt cut short by a crash counts as one. The consumer's MaxDeliver
// is in effect unlimited on purpose: the engine enforces the budget itself when an
// attempt ends (a server-side MaxDeliver would leave an entry whose last
// delivery died with its replica unacked and never delivered again, in
// the queue for ever).
//
// concurrency and rate are per replica: with R replicas the destination
// receives up to R × concurrency attempts at once and R × rate a second.
// order_by is not supported: a shared queue hands consecutive entries of
// one key to different replicas, so Enqueue refuses an event with an
// OrderKey (ErrOrderUnsupported) and the config must refuse order_by
// with this backend.
package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/sender"
)

// Defaults.
const (
	// DefaultStream is the base name of the streams.
	DefaultStream = "SCGATE_INBOX"
	// DefaultSubject is the subject prefix.
	DefaultSubject = "scgate.inbox"
	// DefaultEnqueueTimeout bounds one Enqueue: with the server down it
	// fails within it, and the gateway answers 503.
	DefaultEnqueueTimeout = 5 * time.Second
	// DefaultAckMargin is added to the attempt timeout to make AckWait.
	DefaultAckMargin = 10 * time.Second
	// DefaultDedupeWindow is the stream's duplicate window.
	DefaultDedupeWindow = 2 * time.Minute
)

// Errors.
var (
	// ErrOrderUnsupported is returned by Enqueue for an event with an
	// OrderKey: see the package comment.
	ErrOrderUnsupported = errors.New("order_by is not supported by the JetStream inbox")
	// ErrDuplicateSettled is returned by Enqueue for a publish that the
	// stream's dedupe window recognised as the repeat of an entry that
	// has since left the queue: the event is stored, but its id is no
	// longer known. It is inbox.ErrSettledDuplicate.
	ErrDuplicateSettled = inbox.ErrSettledDuplicate
)

// Options configure an Engine.
type Options struct {
	inbox.Settings
	// URL is the NATS server URL, or several, comma-separated.
	URL string
	// NATS are extra connection options (credentials, TLS).
	NATS []nats.Option
	// Stream is the base name of the streams. Default DefaultStream.
	Stream string
	// Subject is the subject prefix. Default DefaultSubject.
	Subject string
	// Consumer is the name of the durable consumer the replicas share.
	// Default Stream + "_deliver".
	Consumer string
	// Replicas is how many servers of a JetStream cluster hold each
	// stream (1 to 5): with 3, the publish ack waits for a majority of
	// them. Default 1.
	Replicas int
	// EnqueueTimeout bounds one Enqueue. Default DefaultEnqueueTimeout.
	EnqueueTimeout time.Duration
	// AckMargin is added to the attempt timeout to make the consumer's
	// AckWait, how long a replica holds an entry before the server hands
	// it to another. Default DefaultAckMargin.
	AckMargin time.Duration
	// DedupeWindow is the stream's duplicate window. Default
	// DefaultDedupeWindow.
	DedupeWindow time.Duration
	// ReconnectWait is the pause between reconnection attempts. Default
	// 250ms.
	ReconnectWait time.Duration
	// Logger, Now, OnAttempt, OnSettled and StopGrace are as in
	// inbox.Options.
	Logger    *zap.Logger
	Now       func() time.Time
	OnAttempt func(*inbox.Entry, inbox.Attempt)
	OnSettled func(e *inbox.Entry, latency time.Duration)
	StopGrace time.Duration
}

// Engine is a connection to the JetStream inbox and its delivery workers.
type Engine struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	name    string
	subject string
	opts    Options
	log     *zap.Logger
	now     func() time.Time

	queue jetstream.Stream
	final map[inbox.State]jetstream.Stream
	logs  jetstream.Stream

	mu       sync.Mutex // Reconfigure
	settings atomic.Pointer[inbox.Settings]
	client   atomic.Pointer[sender.Client]
	limiter  *rate.Limiter
	slots    slots
}

// The engine is an inbox.Engine.
var _ inbox.Engine = (*Engine)(nil)

// envelope is what every message of the streams but the log holds.
type envelope struct {
	D *sender.Delivery `json:"d"`
	H http.Header      `json:"h,omitempty"`
	B []byte           `json:"b"`
}

// Open connects to the server, creates or updates the streams and the
// consumer, and returns the engine; Run delivers. The server must be up.
func Open(opts Options) (*Engine, error) {
	if err := opts.Settings.Check(); err != nil {
		return nil, err
	}
	if opts.Stream == "" {
		opts.Stream = DefaultStream
	}
	if opts.Subject == "" {
		opts.Subject = DefaultSubject
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.EnqueueTimeout <= 0 {
		opts.EnqueueTimeout = DefaultEnqueueTimeout
	}
	if opts.AckMargin <= 0 {
		opts.AckMargin = DefaultAckMargin
	}
	if opts.DedupeWindow <= 0 {
		opts.DedupeWindow = DefaultDedupeWindow
	}
	if opts.ReconnectWait <= 0 {
		opts.ReconnectWait = 250 * time.Millisecond
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = sender.DefaultStopGrace
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	e := &Engine{name: opts.Stream, subject: opts.Subject, opts: opts, log: opts.Logger, now: opts.Now,
		limiter: rate.NewLimiter(rate.Inf, 1)}
	e.slots.init()
	// No reconnect buffer: a publish while the connection is down fails
	// at once instead of waiting in the client for the server.
	nopts := append([]nats.Option{
		nats.Name("scgate-inbox"), nats.MaxReconnects(-1), nats.ReconnectWait(opts.ReconnectWait),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { e.log.Warn("inbox: NATS disconnected", zap.Error(err)) }),
		nats.ReconnectHandler(func(*nats.Conn) { e.log.Info("inbox: NATS reconnected") }),
	}, opts.NATS...)
	nc, err := nats.Connect(opts.URL, nopts...)
	if err != nil {
		return nil, fmt.Errorf("inbox: connecting to NATS: %w", err)
	}
	e.nc = nc
	if e.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, err
	}
	if err := e.setup(opts.Settings); err != nil {
		nc.Close()
		return nil, err
	}
	return e, nil
}

// subj returns P.kind.id.
func (e *Engine) subj(kind, id string) string { return e.subject + "." + kind + "." + id }

// finalKind names the stream and subject of each settled state.
var finalKind = map[inbox.State]string{inbox.StateDelivered: "delivered", inbox.StateGone: "gone", inbox.StateFailed: "failed"}

// setup creates or updates the streams and the consumer for s, and
// applies the settings the engine reads itself.
func (e *Engine) setup(s inbox.Settings) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	retain := s.Retain
	switch {
	case retain == 0:
		retain = inbox.DefaultRetain
	case retain < 0:
		retain = 0 // kept
	}
	// Reconfigure updates the streams and the consumer; the handles are
	// set once, by Open (Run and Enqueue read them meanwhile).
	first := e.queue == nil
	queue, err := e.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: e.name, Subjects: []string{e.subject + ".q.>"}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Duplicates: e.opts.DedupeWindow, Replicas: e.opts.Replicas,
	})
	if err != nil {
		return fmt.Errorf("inbox: stream %s: %w", e.name, err)
	}
	final := make(map[inbox.State]jetstream.Stream, len(finalKind))
	for st, kind := range finalKind {
		name := e.name + "_" + strings.ToUpper(kind)
		str, err := e.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: name, Subjects: []string{e.subject + "." + kind + ".>"}, Storage: jetstream.FileStorage,
			MaxAge: retain, MaxMsgsPerSubject: 1, Duplicates: e.opts.DedupeWindow, Replicas: e.opts.Replicas,
		})
		if err != nil {
			return fmt.Errorf("inbox: stream %s: %w", name, err)
		}
		final[st] = str
	}
	logs, err := e.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: e.name + "_LOG", Subjects: []string{e.subject + ".log.>"}, Storage: jetstream.FileStorage, MaxAge: retain, Replicas: e.opts.Replicas,
	})
	if err != nil {
		return fmt.Errorf("inbox: stream %s_LOG: %w", e.name, err)
	}
	if first {
		e.queue, e.final, e.logs = queue, final, logs
	}
	if _, err := e.js.CreateOrUpdateConsumer(ctx, e.name, e.consumerConfig(s)); err != nil {
		return fmt.Errorf("inbox: consumer %s: %w", e.consumerName(), err)
	}
	return e.apply(s)
}

// maxDeliver is the consumer's MaxDeliver: in effect unlimited (the
// engine enforces the attempt budget, see the package comment), but
// finite, since the server wants one longer than BackOff.
const maxDeliver = 1 << 20

func (e *Engine) consumerName() string {
	if e.opts.Consumer != "" {
		return e.opts.Consumer
	}
	return e.name + "_deliver"
}

// consumerConfig is the shared durable consumer for s: AckWait is the
// attempt timeout plus AckMargin, BackOff (how long a redelivered entry is
// held before the next replica gets it) the schedule's waits, never
// shorter than AckWait so that an attempt in flight is never handed out
// twice.
func (e *Engine) consumerConfig(s inbox.Settings) jetstream.ConsumerConfig {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = inbox.DefaultTimeout
	}
	ackWait := timeout + e.opts.AckMargin
	var backoff []time.Duration
	for _, d := range s.Schedule().Backoff {
		backoff = append(backoff, max(d, ackWait))
	}
	return jetstream.ConsumerConfig{
		Durable: e.consumerName(), AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait,
		BackOff: backoff, MaxDeliver: maxDeliver, MaxAckPending: -1, FilterSubject: e.subject + ".q.>",
	}
}

// apply sets what the engine reads itself: the settings, the client, the
// rate ceiling and the bound on attempts in flight.
func (e *Engine) apply(s inbox.Settings) error {
	old := e.settings.Load()
	if old == nil || old.Timeout != s.Timeout {
		c, err := inbox.NewClient(s.Timeout)
		if err != nil {
			return err
		}
		if prev := e.client.Swap(c); prev != nil {
			prev.Close()
		}
	}
	e.settings.Store(&s)
	if s.Rate > 0 {
		burst := s.Burst
		if burst <= 0 {
			burst = max(1, int(s.Rate/20))
		}
		e.limiter.SetLimit(rate.Limit(s.Rate))
		e.limiter.SetBurst(burst)
	} else {
		e.limiter.SetLimit(rate.Inf)
	}
	e.slots.setLimit(s.Workers())
	return nil
}

// Reconfigure applies new settings: the consumer's AckWait and BackOff,
// the streams' retention, and, for later attempts, the destination,
// schedule, timeout, concurrency and rate.
func (e *Engine) Reconfigure(s inbox.Settings) error {
	if err := s.Check(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.setup(s)
}

// Enqueue publishes ev to the queue and returns its id once the server
// acknowledged the write (stored in the file store). With the server down
// or slow it fails within EnqueueTimeout; nothing is then acknowledged,
// though a publish whose ack was lost may have been stored: the dedupe
// key's Nats-Msg-Id makes the provider's retry of it a duplicate, within
// DedupeWindow.
func (e *Engine) Enqueue(ev inbox.Event) (string, error) {
	if ev.OrderKey != "" {
		return "", ErrOrderUnsupported
	}
	h, err := inbox.Prepare(ev)
	if err != nil {
		return "", err
	}
	d, err := sender.NewPending(e.settings.Load().Destination, ev.Body, e.now())
	if err != nil {
		return "", err
	}
	d.Event, d.KeepNumbering = ev.Type, true
	msgID := "id:" + d.ID
	if ev.DedupeKey != "" {
		msgID = "key:" + ev.DedupeKey
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.EnqueueTimeout)
	defer cancel()
	ack, err := e.publish(ctx, e.subj("q", d.ID), envelope{D: d, H: h, B: ev.Body}, msgID, e.name)
	if err != nil {
		return "", err
	}
	if ack.Duplicate {
		m, err := e.queue.GetMsg(ctx, ack.Sequence)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrDuplicateSettled, err)
		}
		return strings.TrimPrefix(m.Subject, e.subject+".q."), nil
	}
	return d.ID, nil
}

// publish writes env to subject, deduplicated on msgID, expecting stream.
func (e *Engine) publish(ctx context.Context, subject string, env envelope, msgID, stream string) (*jetstream.PubAck, error) {
	data, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	return e.js.Publish(ctx, subject, data, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(stream))
}

// Close closes the connection; stop Run first. An entry held for an
// attempt in flight is not acked: the server hands it to another replica
// after AckWait.
func (e *Engine) Close() error {
	e.nc.Close()
	if c := e.client.Load(); c != nil {
		c.Close()
	}
	return nil
}

// slots bounds the attempts in flight of one replica, with a bound that
// Reconfigure may change.
type slots struct {
	mu       sync.Mutex
	n, limit int
	freed    chan struct{}
}

func (s *slots) init() { s.freed = make(chan struct{}, 1) }

func (s *slots) setLimit(n int) {
	s.mu.Lock()
	s.limit = n
	s.mu.Unlock()
	s.signal()
}

func (s *slots) signal() {
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

// acquire takes a slot, or returns false when ctx ends first. One caller
// at a time (the consumer's handler).
func (s *slots) acquire(ctx context.Context) bool {
	for {
		s.mu.Lock()
		if s.n < s.limit {
			s.n++
			s.mu.Unlock()
			return true
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return false
		case <-s.freed:
		}
	}
}

func (s *slots) release() {
	s.mu.Lock()
	s.n--
	s.mu.Unlock()
	s.signal()
}
