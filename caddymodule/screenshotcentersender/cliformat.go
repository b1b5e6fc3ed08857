package screenshotcentersender

import (
	"io"
	"time"

	"github.com/scgate/scgate/caddymodule/internal/cli"
)

// writeDelivery shows a delivery and its attempt log to people.
func writeDelivery(w io.Writer, store string, v *deliveryView, now time.Time) error {
	return cli.WriteDelivery(w, store, v.Delivery, v.BodyBytes, v.Log, nil, now)
}
