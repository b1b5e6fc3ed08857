package screenshotcenterwebhook

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
)

// redisConn is the resolved connection settings of a redis backend.
type redisConn struct {
	url        string
	addrs      []string
	masterName string
	username   string
	password   string
	tls        bool
	timeout    time.Duration
}

// resolveRedisConn resolves the placeholders of d's connection settings.
func resolveRedisConn(d *RedisConfig, repl *caddy.Replacer) redisConn {
	c := redisConn{
		url:        strings.TrimSpace(repl.ReplaceKnown(d.URL, "")),
		masterName: d.MasterName,
		username:   repl.ReplaceKnown(d.Username, ""),
		password:   repl.ReplaceKnown(d.Password, ""),
		tls:        d.TLS,
		timeout:    time.Duration(d.Timeout),
	}
	for _, a := range d.Addresses {
		c.addrs = append(c.addrs, repl.ReplaceKnown(a, ""))
	}
	return c
}

// poolKey names the client of these settings in the stores pool. It is a
// digest, so the password is not kept in a map key.
func (c redisConn) poolKey() string {
	h := sha256.New()
	for _, s := range append([]string{c.url, c.masterName, c.username, c.password,
		strconv.FormatBool(c.tls), c.timeout.String()}, c.addrs...) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	return "redis:" + hex.EncodeToString(h.Sum(nil))
}

// check reports a settings error without ever showing the URL or password.
func (c redisConn) check() error {
	switch {
	case c.url == "" && len(c.addrs) == 0:
		return errors.New("dedupe redis needs url or addresses (is the url's variable set?)")
	case c.url != "" && len(c.addrs) > 0:
		return errors.New("dedupe redis takes url or addresses, not both")
	case c.url != "" && (c.masterName != "" || c.username != "" || c.password != "" || c.tls):
		return errors.New("dedupe redis: master_name, username, password and tls go with addresses; put credentials and rediss:// in the url")
	}
	for _, a := range c.addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("dedupe redis address %q is not host:port", a)
		}
	}
	if c.url != "" {
		if _, err := c.options(); err != nil {
			return err
		}
	}
	return nil
}

// options builds the client options. Every operation is bounded by the
// timeout; the url's own query parameters (dial_timeout, ...) win.
func (c redisConn) options() (*redis.UniversalOptions, error) {
	o := &redis.UniversalOptions{ClientName: "scgate"}
	if c.url != "" {
		u, err := redis.ParseURL(c.url)
		if err != nil {
			// No detail: parse errors quote parts of the URL, and a part
			// may be the password.
			return nil, errors.New("dedupe redis url is invalid (details not shown, they may hold a password); want redis://[user:password@]host:port/db, rediss://... or unix:///path")
		}
		o.Addrs = []string{u.Addr}
		o.Username, o.Password, o.DB = u.Username, u.Password, u.DB
		o.TLSConfig = u.TLSConfig
		o.Protocol = u.Protocol
		o.MaxRetries = u.MaxRetries
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = u.DialTimeout, u.ReadTimeout, u.WriteTimeout, u.PoolTimeout
		o.PoolSize, o.MinIdleConns, o.MaxIdleConns = u.PoolSize, u.MinIdleConns, u.MaxIdleConns
	} else {
		o.Addrs = c.addrs
		o.MasterName = c.masterName
		o.Username, o.Password = c.username, c.password
		if c.tls {
			o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	t := c.timeout
	if t <= 0 {
		t = DefaultRedisTimeout
	}
	for _, p := range []*time.Duration{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout} {
		if *p == 0 {
			*p = t
		}
	}
	o.ContextTimeoutEnabled = true
	return o, nil
}
