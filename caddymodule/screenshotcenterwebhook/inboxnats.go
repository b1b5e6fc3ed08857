package screenshotcenterwebhook

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/scgate/scgate/caddymodule/internal/placeholder"
	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/inbox/jetstream"
)

// natsInbox is the inbox on a NATS JetStream server (package
// inbox/jetstream): its settings resolved.
type natsInbox struct {
	c InboxNATSConfig // placeholders resolved
}

// newNATSInbox resolves the placeholders of c: an unknown placeholder,
// an unset variable or a missing file is an error naming the field, never
// text sent to the server.
func newNATSInbox(c *InboxNATSConfig) (natsInbox, error) {
	r := *c
	for _, f := range []struct {
		name string
		v    *string
	}{{"url", &r.URL}, {"stream", &r.Stream}, {"subject", &r.Subject}, {"consumer", &r.Consumer},
		{"credentials", &r.Credentials}, {"user", &r.User}, {"password", &r.Password}, {"token", &r.Token},
		{"tls_ca", &r.TLSCA}, {"tls_cert", &r.TLSCert}, {"tls_key", &r.TLSKey}} {
		v, err := placeholder.Field("inbox nats "+f.name, *f.v)
		if err != nil {
			return natsInbox{}, err
		}
		*f.v = v
	}
	r.URL = strings.TrimSpace(r.URL)
	if r.Stream == "" {
		r.Stream = jetstream.DefaultStream
	}
	if r.Subject == "" && r.Stream != jetstream.DefaultStream {
		// Two streams cannot share subjects: another stream name gets
		// subjects of its own.
		r.Subject = jetstream.DefaultSubject + "." + strings.ToLower(r.Stream)
	}
	return natsInbox{c: r}, nil
}

// key is a digest of every setting, secrets included, so that a reload
// that changes a password connects anew, and no secret is a map key.
func (n natsInbox) key() string {
	h := sha256.New()
	c := n.c
	for _, s := range []string{c.URL, c.Stream, c.Subject, c.Consumer, c.Credentials, c.User, c.Password, c.Token,
		c.TLSCA, c.TLSCert, c.TLSKey, strconv.Itoa(c.Replicas)} {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	return "nats:" + hex.EncodeToString(h.Sum(nil))
}

// name is the servers without user info, then the stream:
// nats://host:4222/SCGATE_INBOX.
func (n natsInbox) name() string {
	var hosts []string
	for _, raw := range strings.Split(n.c.URL, ",") {
		raw = strings.TrimSpace(raw)
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			scheme := u.Scheme
			if scheme == "" {
				scheme = "nats"
			}
			hosts = append(hosts, scheme+"://"+u.Host)
		} else if i := strings.LastIndexByte(raw, '@'); i >= 0 {
			hosts = append(hosts, raw[i+1:])
		} else {
			hosts = append(hosts, raw)
		}
	}
	return strings.Join(hosts, ",") + "/" + n.c.Stream
}

// options are the connection options of the credentials and TLS.
func (n natsInbox) options() []nats.Option {
	c := n.c
	var o []nats.Option
	switch {
	case c.Credentials != "":
		o = append(o, nats.UserCredentials(c.Credentials))
	case c.User != "":
		o = append(o, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		o = append(o, nats.Token(c.Token))
	}
	if c.TLSCA != "" {
		o = append(o, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		o = append(o, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	return o
}

// heals: a server that is down at start is tried again in the background.
func (natsInbox) heals() bool { return true }

func (n natsInbox) open(st inbox.Settings, hooks inboxHooks, logger *zap.Logger) (inbox.Engine, error) {
	e, err := jetstream.Open(jetstream.Options{
		Settings:  st,
		URL:       n.c.URL,
		NATS:      n.options(),
		Stream:    n.c.Stream,
		Subject:   n.c.Subject,
		Consumer:  n.c.Consumer,
		Replicas:  n.c.Replicas,
		Logger:    logger,
		OnAttempt: hooks.onAttempt,
		OnSettled: hooks.onSettled,
	})
	if err != nil {
		return nil, err // not a nil *Engine in a non-nil interface
	}
	return e, nil
}
