// The providers' own signing code for integration/providers: GitHub's
// @octokit/webhooks-methods, and the HMAC Shopify's docs give (node's
// crypto, as they show it). Usage: node providers.mjs <op> <secret>
// [<signature>] with the body on stdin; prints the signature, or true or
// false.
import { sign, verify } from "@octokit/webhooks-methods";
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";

const [op, secret, signature] = process.argv.slice(2);
const body = readFileSync(0);

function shopifyHmac() {
  return createHmac("sha256", secret).update(body).digest("base64");
}

switch (op) {
  case "github-sign":
    console.log(await sign(secret, body.toString("utf8")));
    break;
  case "github-verify":
    console.log(await verify(secret, body.toString("utf8"), signature));
    break;
  case "shopify-sign":
    console.log(shopifyHmac());
    break;
  case "shopify-verify": {
    const digest = Buffer.from(shopifyHmac());
    const got = Buffer.from(signature);
    console.log(digest.length === got.length && timingSafeEqual(digest, got));
    break;
  }
  default:
    console.error(`unknown op ${op}`);
    process.exit(2);
}
