// Tokens for the Node.js clients: HS256 signed by hand with Node's own crypto, so the JWT side
// is independent of the server's library too. JWT_SECRET is the secret the server verifies with.
import { createHmac } from "node:crypto";

export function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through \`cargo test\` (tests/interop.rs, tests/socket_io.rs)`);
  return value;
}

const SECRET = requireEnv("JWT_SECRET");

const b64url = (value) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
export const now = () => Math.floor(Date.now() / 1000);

export function sign(claims, { secret = SECRET, header = { alg: "HS256", typ: "JWT" } } = {}) {
  const body = `${b64url(header)}.${b64url(claims)}`;
  if (header.alg === "none") return `${body}.`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

export const token = (sub, ttl = 3600) => sign({ sub, iat: now(), exp: now() + ttl });
// /vendor admits only tokens whose `kind` claim is "vendor"; /user takes the others above.
export const vendorToken = (sub, ttl = 3600) => sign({ sub, kind: "vendor", iat: now(), exp: now() + ttl });

