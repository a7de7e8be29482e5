// Small helpers shared by the end-to-end suite: polling a condition, random names, free ports.

import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Polls `check` until it returns something truthy, and returns that. A check that throws counts
 * as "not yet"; on timeout the last error (or the last value) is in the message, so a failure
 * says what was still wrong rather than only "timed out". An error with `fatal: true` stops the
 * polling at once.
 */
export async function until(what, check, { timeout = 30_000, interval = 250 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (err) {
      // An error marked fatal (a daemon that exited) will not get better by waiting.
      if (err?.fatal) throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout / 1000}s waiting for ${what} (last: ${detail})`);
    }
    await sleep(interval);
  }
}

export const randomId = (bytes = 6) => randomBytes(bytes).toString("hex");
export const randomKey = () => randomBytes(32).toString("base64");

/**
 * A loopback port nobody listens on right now. The daemons bind it moments later; another
 * process taking it in between is possible but rare, and shows as a clear bind error.
 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function elapsed(since) {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}
