<?php
// A ScreenshotCenter webhook handler in plain PHP that verifies the signature
// the way many PHP handlers do, over json_encode(json_decode($body)) instead
// of the bytes that were signed. On its own it answers 401 to every valid
// event that is not already written the way json_encode writes it (pretty-
// printed, "/" not escaped as "\/", raw UTF-8, 1E3, big integers...). Behind
// scgate with `reencode php` it receives exactly json_encode's bytes, signed
// again, and accepts them.
//
//   WEBHOOK_SECRET=dev-secret-change-me php -S 127.0.0.1:9090 index.php
//
// Environment: WEBHOOK_SECRET (required).

function verify_webhook(string $payload, string $signature, string $secret): bool
{
    $expected = 'sha256=' . hash_hmac('sha256', $payload, $secret);
    return hash_equals($expected, $signature);
}

if ($_SERVER['REQUEST_METHOD'] !== 'POST' || parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) !== '/webhooks/screenshot') {
    http_response_code(404);
    echo 'Not Found';
    return;
}

$body = file_get_contents('php://input');
$sig = $_SERVER['HTTP_X_SCREENSHOTCENTER_SIGNATURE'] ?? '';
$raw = json_encode(json_decode($body));
if ($raw === false || !verify_webhook($raw, $sig, getenv('WEBHOOK_SECRET') ?: '')) {
    http_response_code(401);
    echo 'Invalid signature';
    return;
}

$payload = json_decode($body);
// handle event...
error_log(sprintf('received %s screenshot_id=%s image_url=%s',
    $payload->event ?? '', $payload->screenshot_id ?? '', $payload->image_url ?? ''));
http_response_code(200);
echo 'OK';
