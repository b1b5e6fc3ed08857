package scheme

import (
	"net/http"

	"github.com/scgate/scgate/refusal"
)

// The refusals every scheme's Verify uses.
var (
	ErrSigMissing   = refusal.New(http.StatusUnauthorized, "signature_missing", "no signature header")
	ErrSigMalformed = refusal.New(http.StatusUnauthorized, "signature_malformed", "malformed signature header")
	ErrSigMismatch  = refusal.New(http.StatusUnauthorized, "signature_mismatch", "no secret matches the signature")
)
