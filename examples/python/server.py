"""A Flask-style ScreenshotCenter webhook handler, with the standard library only.

It verifies the signature the way many Python handlers do,
hmac(json.dumps(request.get_json())), instead of over the bytes that were
signed, so on its own it answers 401 to every valid event that is not already
written the way json.dumps writes it (compact JSON, "\\/", raw UTF-8, 1E3, ...).
Behind scgate with `reencode python` it receives exactly json.dumps's bytes,
signed again, and accepts them.

    WEBHOOK_SECRET=dev-secret-change-me PORT=9090 python3 server.py

Environment: WEBHOOK_SECRET (required), PORT (default 9090), HOST (default
127.0.0.1).
"""

import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify_webhook(payload, signature, secret):
    expected = "sha256=" + hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature or "")


# In Flask this would be:
#
#   @app.post("/webhooks/screenshot")
#   def screenshot_webhook():
#       sig = request.headers.get("X-ScreenshotCenter-Signature")
#       raw = json.dumps(request.get_json())
#       ...
class WebhookHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        if self.path != "/webhooks/screenshot":
            return self.reply(404, "Not Found")
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            payload = json.loads(body)
        except ValueError:
            return self.reply(400, "Bad Request")
        sig = self.headers.get("X-ScreenshotCenter-Signature")
        raw = json.dumps(payload)
        if not verify_webhook(raw, sig, os.environ["WEBHOOK_SECRET"]):
            return self.reply(401, "Invalid signature")
        # handle event...
        print(f"received {payload.get('event')} screenshot_id={payload.get('screenshot_id')} "
              f"image_url={payload.get('image_url')}", flush=True)
        self.reply(200, "OK")

    def reply(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        # One access line per request on stderr, as http.server does, but
        # flushed at once.
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))
        sys.stderr.flush()


def main():
    if not os.environ.get("WEBHOOK_SECRET"):
        sys.exit("WEBHOOK_SECRET is not set")
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "9090"))
    server = ThreadingHTTPServer((host, port), WebhookHandler)
    print(f"python example listening on http://{host}:{port}/webhooks/screenshot", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
