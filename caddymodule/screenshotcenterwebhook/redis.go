package screenshotcenterwebhook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/scgate/scgate/caddymodule/internal/placeholder"
	"github.com/scgate/scgate/dedupe"
)

// resolveRedisOptions resolves the placeholders of d's settings into the
// store's options: an unknown placeholder or an unset variable is an error
// naming the field (placeholder.Resolve), never text sent to Redis.
func resolveRedisOptions(d *RedisConfig, logger *zap.Logger) (dedupe.RedisOptions, error) {
	o := dedupe.RedisOptions{
		MasterName: d.MasterName,
		TLS:        d.TLS,
		KeyPrefix:  d.KeyPrefix,
		Timeout:    time.Duration(d.Timeout),
		Logger:     logger,
	}
	for _, f := range []struct {
		name string
		in   string
		out  *string
	}{{"url", d.URL, &o.URL}, {"username", d.Username, &o.Username}, {"password", d.Password, &o.Password}} {
		v, err := placeholder.Field("dedupe redis "+f.name, f.in)
		if err != nil {
			return o, err
		}
		*f.out = v
	}
	o.URL = strings.TrimSpace(o.URL)
	for i, a := range d.Addresses {
		v, err := placeholder.Field(fmt.Sprintf("dedupe redis addresses[%d]", i), a)
		if err != nil {
			return o, err
		}
		o.Addrs = append(o.Addrs, v)
	}
	return o, nil
}

// redisPoolKey names the store of these settings in the stores pool: one
// store (one client, one cache of done keys, one breaker) per server, key
// prefix and timeout. It is a digest, so the password is not kept in a map
// key.
func redisPoolKey(o dedupe.RedisOptions) string {
	h := sha256.New()
	for _, s := range append([]string{o.URL, o.MasterName, o.Username, o.Password,
		strconv.FormatBool(o.TLS), o.KeyPrefix, o.Timeout.String()}, o.Addrs...) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	return "redis:" + hex.EncodeToString(h.Sum(nil))
}
