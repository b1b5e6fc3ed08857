// Package providers_test proves issue 17 against the providers' own code:
// requests that stripe-go, GitHub's @octokit/webhooks-methods and
// Shopify's documented HMAC sign pass through the built scgate binary to a
// real upstream once (a retry is a duplicate), tampered ones and those
// signed with another secret are 401, and what `scgate sign --scheme` and
// `scgate send --scheme` produce is accepted by those libraries and by the
// gateway.
//
// Nothing here is skipped: a missing node or npm, or an npm install that
// fails, fails the tests (CI installs them).
package providers_test

import (
	"os"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	gatewaytest.Cleanup()
	os.Exit(code)
}
