// The ScreenshotCenter vendor's Express webhook sample, unchanged apart from
// dropping its TypeScript annotations, as a runnable app. It verifies the
// signature over JSON.stringify(req.body) instead of the bytes that were
// signed, so on its own it answers 401 to every valid event that is not
// already written the way JSON.stringify writes it (pretty-printed, "\/",
// "\u00e9", 1.0, big integers...). Behind scgate with `reencode js` it
// receives exactly JSON.stringify's bytes, signed again, and accepts them.
//
//   npm ci
//   WEBHOOK_SECRET=dev-secret-change-me PORT=9090 node server.js
//
// Environment: WEBHOOK_SECRET (required), PORT (default 9090), HOST
// (default 127.0.0.1).
import crypto from 'crypto';
import express from 'express';

const app = express();
app.use(express.json());

// --- from the vendor's documentation, verbatim (types removed) ---
function verifyWebhook(payload, signature, secret) {
  const expected = 'sha256=' + crypto
    .createHmac('sha256', secret)
    .update(payload)
    .digest('hex');
  return crypto.timingSafeEqual(
    Buffer.from(expected),
    Buffer.from(signature),
  );
}

// Express handler example
app.post('/webhooks/screenshot', (req, res) => {
  const sig = req.headers['x-screenshotcenter-signature'];
  const raw = JSON.stringify(req.body);
  if (!verifyWebhook(raw, sig, process.env.WEBHOOK_SECRET)) {
    return res.status(401).send('Invalid signature');
  }
  const { event, screenshot_id, image_url } = req.body;
  // handle event...
  console.log(`received ${event} screenshot_id=${screenshot_id} image_url=${image_url}`);
  res.sendStatus(200);
});
// --- end of the vendor's sample ---

if (!process.env.WEBHOOK_SECRET) {
  console.error('WEBHOOK_SECRET is not set');
  process.exit(1);
}
const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 9090);
app.listen(port, host, () => {
  console.log(`express example listening on http://${host}:${port}/webhooks/screenshot`);
});
