package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scgate/scgate/inbox"
)

// queryTimeout bounds one read of the admin API.
const queryTimeout = 10 * time.Second

// decode reads an envelope into an entry.
func decode(m *jetstream.RawStreamMsg) (*inbox.Entry, error) {
	var env envelope
	if err := json.Unmarshal(m.Data, &env); err != nil || env.D == nil {
		return nil, fmt.Errorf("inbox: unreadable message %d on %s: %v", m.Sequence, m.Subject, err)
	}
	env.D.Body, env.D.Headers = env.B, env.H
	return &inbox.Entry{Delivery: env.D}, nil
}

// find returns the stream message of id and its state: queued (pending)
// or settled.
func (e *Engine) find(ctx context.Context, id string) (*jetstream.RawStreamMsg, jetstream.Stream, error) {
	if strings.ContainsAny(id, ".*> \t\r\n") || id == "" {
		return nil, nil, inbox.ErrNotFound
	}
	if m, err := e.queue.GetLastMsgForSubject(ctx, e.subj("q", id)); err == nil {
		return m, e.queue, nil
	} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil, err
	}
	for st, kind := range finalKind {
		m, err := e.final[st].GetLastMsgForSubject(ctx, e.subj(kind, id))
		if err == nil {
			return m, e.final[st], nil
		}
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, nil, err
		}
	}
	return nil, nil, inbox.ErrNotFound
}

// Get returns an entry, with its body and headers, and its attempt log.
// A pending entry shows the state it was queued with; its attempts so far
// are in the log.
func (e *Engine) Get(id string) (*inbox.Entry, []inbox.Attempt, error) {
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	m, _, err := e.find(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	entry, err := decode(m)
	if err != nil {
		return nil, nil, err
	}
	var log []inbox.Attempt
	err = e.scan(ctx, e.logs, e.subj("log", id), 0, func(m *jetstream.RawStreamMsg) error {
		var a inbox.Attempt
		if err := json.Unmarshal(m.Data, &a); err != nil {
			return err
		}
		log = append(log, a)
		return nil
	})
	return entry, log, err
}

// scan calls fn for each message of str on subject (a wildcard allowed),
// oldest first, up to limit (all if limit <= 0): one direct read each.
func (e *Engine) scan(ctx context.Context, str jetstream.Stream, subject string, limit int, fn func(*jetstream.RawStreamMsg) error) error {
	seq := uint64(1)
	for n := 0; limit <= 0 || n < limit; n++ {
		m, err := str.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
		seq = m.Sequence + 1
	}
	return nil
}

// streamOf returns the stream and subject wildcard of state.
func (e *Engine) streamOf(state inbox.State) (jetstream.Stream, string, error) {
	if state == inbox.StatePending {
		return e.queue, e.subject + ".q.>", nil
	}
	kind, ok := finalKind[state]
	if !ok {
		return nil, "", fmt.Errorf("unknown state %q", state)
	}
	return e.final[state], e.subject + "." + kind + ".>", nil
}

// List returns up to limit entries (all if limit <= 0) in state, oldest
// first, with their headers but without body: failed ones are the dead
// letters. It reads one message per entry.
func (e *Engine) List(state inbox.State, limit int) ([]*inbox.Entry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	str, subject, err := e.streamOf(state)
	if err != nil {
		return nil, err
	}
	var out []*inbox.Entry
	err = e.scan(ctx, str, subject, limit, func(m *jetstream.RawStreamMsg) error {
		entry, err := decode(m)
		if err != nil {
			return err
		}
		entry.Body = nil
		out = append(out, entry)
		return nil
	})
	return out, err
}

// Stats counts the entries in each state from the streams' message counts
// (four stream infos) and reads the oldest pending one.
func (e *Engine) Stats() (inbox.Stats, error) {
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	st := inbox.Stats{Entries: make(map[inbox.State]int, 4)}
	qi, err := e.queue.Info(ctx)
	if err != nil {
		return inbox.Stats{}, err
	}
	st.Entries[inbox.StatePending] = int(qi.State.Msgs)
	for state, str := range e.final {
		info, err := str.Info(ctx)
		if err != nil {
			return inbox.Stats{}, err
		}
		st.Entries[state] = int(info.State.Msgs)
	}
	if qi.State.Msgs > 0 {
		err := e.scan(ctx, e.queue, e.subject+".q.>", 1, func(m *jetstream.RawStreamMsg) error {
			entry, err := decode(m)
			if err == nil {
				st.OldestPending = entry.Queued()
			}
			return err
		})
		if err != nil {
			return inbox.Stats{}, err
		}
	}
	return st, nil
}

// Replay queues a delivered, failed or gone entry again with a fresh
// attempt budget, due now, and removes its settled record; its next
// attempt has a new number.
func (e *Engine) Replay(id string) (*inbox.Entry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	m, str, err := e.find(ctx, id)
	if err != nil {
		return nil, err
	}
	if str == e.queue {
		return nil, inbox.ErrNotReplayable
	}
	return e.replay(ctx, m, str)
}

// replay queues the settled entry in m (a message of str) again.
func (e *Engine) replay(ctx context.Context, m *jetstream.RawStreamMsg, str jetstream.Stream) (*inbox.Entry, error) {
	entry, err := decode(m)
	if err != nil {
		return nil, err
	}
	d, now := entry.Delivery, e.now()
	d.Earlier += d.Attempts
	d.Attempts, d.State, d.NextAttempt, d.QueuedAt, d.UpdatedAt = 0, inbox.StatePending, now, now, now
	d.LastStatus, d.LastError = 0, ""
	env := envelope{D: d, H: d.Headers, B: d.Body}
	if _, err := e.publish(ctx, e.subj("q", d.ID), env, fmt.Sprintf("replay:%s:%d", d.ID, d.Earlier), e.name); err != nil {
		return nil, err
	}
	// Queued again before the record goes: a failure here leaves both,
	// never neither.
	if err := str.DeleteMsg(ctx, m.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return entry, err
	}
	return entry, nil
}

// ReplayAll queues again, like Replay, every entry in state (delivered,
// failed or gone) that became so at or after from and before to (a zero
// from or to leaves that end open), and returns them oldest first.
func (e *Engine) ReplayAll(state inbox.State, from, to time.Time) ([]*inbox.Entry, error) {
	if state == inbox.StatePending {
		return nil, inbox.ErrNotReplayable
	}
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	str, subject, err := e.streamOf(state)
	if err != nil {
		return nil, err
	}
	var todo []*jetstream.RawStreamMsg
	err = e.scan(ctx, str, subject, 0, func(m *jetstream.RawStreamMsg) error {
		entry, err := decode(m)
		if err != nil {
			return err
		}
		if (from.IsZero() || !entry.UpdatedAt.Before(from)) && (to.IsZero() || entry.UpdatedAt.Before(to)) {
			todo = append(todo, m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []*inbox.Entry
	for _, m := range todo {
		entry, err := e.replay(ctx, m, str)
		if err != nil {
			return out, err
		}
		out = append(out, entry)
	}
	return out, nil
}

// DeliverNow is not supported: an entry waiting for a retry is held by
// the server for the delay its NAK gave, and only publishing it again
// (which resets the attempt budget the server counts) could hurry it. It
// fails with inbox.ErrUnsupported.
func (e *Engine) DeliverNow(id string) (*inbox.Entry, error) {
	return nil, fmt.Errorf("delivering an entry now: %w (JetStream holds a retry until its delay passes)", inbox.ErrUnsupported)
}

// DeliverAllNow is not supported, as DeliverNow.
func (e *Engine) DeliverAllNow() ([]*inbox.Entry, error) {
	return nil, fmt.Errorf("delivering entries now: %w (JetStream holds a retry until its delay passes)", inbox.ErrUnsupported)
}
