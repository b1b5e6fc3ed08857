package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/sender"
)

// ackTimeout bounds the writes that settle an attempt: its log entry,
// the settled record and the ack.
const ackTimeout = 5 * time.Second

// Run delivers entries handed to this replica until ctx ends, then lets
// the attempts in flight finish for up to StopGrace; an attempt cut short
// then is NAKed, so another replica makes it at once. The client
// reconnects by itself: while the server is away no entry is handed out,
// and delivery resumes when it returns.
func (e *Engine) Run(ctx context.Context) error {
	cons, err := e.js.Consumer(ctx, e.name, e.consumerName())
	if err != nil {
		return fmt.Errorf("inbox: consumer %s: %w", e.consumerName(), err)
	}
	// Attempts outlive ctx by StopGrace.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var wg sync.WaitGroup
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if !e.slots.acquire(ctx) {
			_ = m.NakWithDelay(time.Millisecond)
			return
		}
		if e.limiter.Wait(ctx) != nil {
			e.slots.release()
			_ = m.NakWithDelay(time.Millisecond)
			return
		}
		wg.Go(func() {
			defer e.slots.release()
			e.deliver(work, m)
		})
	}, jetstream.PullMaxMessages(e.settings.Load().Workers()), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		e.log.Debug("inbox: consumer", zap.Error(err))
	}))
	if err != nil {
		return fmt.Errorf("inbox: consuming: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(e.opts.StopGrace):
		cancelWork()
		<-done
	}
	return nil
}

// deliver makes one attempt of the entry in m and settles it.
func (e *Engine) deliver(ctx context.Context, m jetstream.Msg) {
	var env envelope
	if err := json.Unmarshal(m.Data(), &env); err != nil || env.D == nil {
		e.log.Error("inbox: unreadable queue message dropped", zap.String("subject", m.Subject()), zap.Error(err))
		_ = m.Term()
		return
	}
	meta, err := m.Metadata()
	if err != nil {
		_ = m.Nak()
		return
	}
	set := e.settings.Load()
	d := env.D
	d.Body, d.Headers = env.B, env.H
	d.Attempts = int(meta.NumDelivered) // counted since the entry was last queued
	n := d.Number()
	res := e.client.Load().Post(ctx, set.Destination, env.B, inbox.AttemptHeader(env.H, d.ID, n))
	a := set.Schedule().Judge(ctx, res, n, d.Attempts, 0)
	d.Apply(a, e.now())

	wctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	if data, err := json.Marshal(a); err == nil {
		if _, err := e.js.Publish(wctx, e.subj("log", d.ID), data); err != nil {
			e.log.Warn("inbox: attempt log not written", zap.String("id", d.ID), zap.Error(err))
		}
	}
	lvl := zap.InfoLevel
	if a.Outcome != inbox.OutcomeDelivered {
		lvl = zap.WarnLevel
	}
	e.log.Log(lvl, "inbox: attempt", zap.String("id", d.ID), zap.String("event", d.Event), zap.Int("attempt", n),
		zap.Int("status", a.Status), zap.String("outcome", string(a.Outcome)))
	entry := &inbox.Entry{Delivery: d}
	if e.opts.OnAttempt != nil {
		e.opts.OnAttempt(entry, a)
	}
	switch a.Outcome {
	case sender.OutcomeRetry:
		_ = m.NakWithDelay(a.NextWait)
		return
	case sender.OutcomeInterrupted:
		_ = m.NakWithDelay(time.Millisecond)
		return
	}
	// Settled: record it, then ack. A dead letter that could not be
	// written is not acked (it stays queued and is tried again); a
	// delivered or gone entry is acked whatever the record's fate, so
	// that it is not delivered again.
	kind := finalKind[d.State]
	_, err = e.publish(wctx, e.subj(kind, d.ID), env, fmt.Sprintf("%s:%s:%d", kind, d.ID, n), e.final[d.State].CachedInfo().Config.Name)
	if err != nil {
		e.log.Error("inbox: settled entry not recorded", zap.String("id", d.ID), zap.String("state", string(d.State)), zap.Error(err))
		if d.State == inbox.StateFailed {
			_ = m.NakWithDelay(time.Second)
			return
		}
	}
	if err := m.DoubleAck(wctx); err != nil {
		e.log.Warn("inbox: ack not confirmed; the entry may be delivered again", zap.String("id", d.ID), zap.Error(err))
	}
	if e.opts.OnSettled != nil {
		e.opts.OnSettled(entry, max(e.now().Sub(d.Queued()), 0))
	}
}
