// The REST API, for setting up what a scenario is not about (keys, issuers, profiles, a request
// waiting for approval) and for checking what the UI claims against the server's own answer.

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export function apiClient(baseUrl, key) {
  async function call(method, path, body, { expect } = {}) {
    const headers = { Authorization: `Bearer ${key}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(`${baseUrl}/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await resp.text();
    const data = text && (resp.headers.get("content-type") ?? "").includes("json") ? JSON.parse(text) : text;
    const ok = expect ? resp.status === expect : resp.ok;
    if (!ok) throw new Error(`${method} ${path}: ${resp.status} ${typeof data === "string" ? data : JSON.stringify(data)}`);
    return data;
  }
  return {
    key,
    get: (path) => call("GET", path),
    post: (path, body = {}, opts) => call("POST", path, body, opts),
    patch: (path, body, opts) => call("PATCH", path, body, opts),
    /** A new API key of `role` acting for `principal`; returns its secret and record. */
    createKey: (name, role, principal) => call("POST", "/api-keys", { name, role, principal }),
  };
}

/** A fresh P-256 CSR for `cn`, made by OpenSSL; the private key stays in a temp dir, deleted after. */
export async function makeCsr(cn) {
  const dir = mkdtempSync(join(tmpdir(), "certctl-e2e-csr-"));
  try {
    const { stdout } = await run("openssl", [
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-subj",
      `/CN=${cn}`,
    ]);
    return stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
