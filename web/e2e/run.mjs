// The console's end-to-end suite: the built console (web/dist) served by the real api-server, with
// the real notifier-worker and revocation-responder, PostgreSQL and RabbitMQ, driven in Debian's
// Chromium through playwright-core, with an axe run and a screenshot of every page.
//
//   npm run e2e                  (in web/, after `npm run build` and `cargo build --workspace --bins`)
//   node --test-name-pattern='\((1|4)\)' e2e/run.mjs     only some steps (the setup always runs)
//
// It makes and removes everything it uses: a database certctl_e2e_<random>, RabbitMQ queues under
// the prefix certctl-e2e-<random> (which expire a minute after the run), the daemons on free
// loopback ports, a webhook receiver, a temp dir. Screenshots go to web/e2e/screenshots/ (ignored
// by git); when a test fails, the daemons' logs are kept in web/e2e/work/logs/.
//
// Settings (all optional): CERTCTL_E2E_BIN_DIR (the daemons, default <repo>/target/debug),
// CERTCTL_E2E_PG (default postgres://postgres@127.0.0.1:5432), CERTCTL_E2E_AMQP_URL,
// CERTCTL_E2E_CHROMIUM (default /usr/bin/chromium), CERTCTL_E2E_RUST_LOG.
//
// The scenario runs in order, one browser context per user; each step sets up through the REST API
// what it is not about, and falls back to the API for what an earlier, failed step should have
// made, so one failure does not hide the rest.

import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
/** The whole run normally takes one to two minutes; past this it is stuck. */
const WATCHDOG_S = 420;

// node:test picks its reporter by the terminal: TAP when piped (as in scripts/test.sh). The spec
// reporter reads better in a log, so the runner starts itself again with it, passing signals on.
if (!process.execArgv.some((a) => a.startsWith("--test-reporter"))) {
  const child = spawn(process.execPath, ["--test-reporter=spec", "--test-reporter-destination=stdout", ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  await suite();
}

async function suite() {
  const { startStack } = await import("./lib/stack.mjs");
  const { startReceiver } = await import("./lib/receiver.mjs");
  const { apiClient } = await import("./lib/api.mjs");
  const { launch, createRecorder } = await import("./lib/browser.mjs");
  const { elapsed, randomId } = await import("./lib/util.mjs");
  const scenarios = [
    (await import("./session.e2e.mjs")).default,
    (await import("./certificates.e2e.mjs")).default,
    (await import("./notifications.e2e.mjs")).default,
    (await import("./roles.e2e.mjs")).default,
    (await import("./pages.e2e.mjs")).default,
    (await import("./accessibility.e2e.mjs")).default,
  ];

  const started = Date.now();
  const repo = resolve(here, "..", "..");
  const log = (line) => process.stdout.write(`${line}\n`);
  const ctx = { repo, log, failed: [], users: {} };

  // A run that hangs (a daemon wedged, the browser stuck) must still end and clean up: the exit
  // handler of the stack kills the daemons and drops the database.
  const watchdog = setTimeout(() => {
    log(`e2e: the whole run took over ${WATCHDOG_S}s; giving up`);
    process.exit(1);
  }, WATCHDOG_S * 1000);
  watchdog.unref();
  let stopping = false;
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(sig, async () => {
      // Ctrl-C reaches this process twice (from the terminal and from the parent): stop once.
      if (stopping) return;
      stopping = true;
      log(`e2e: ${sig}, stopping`);
      await teardown(ctx, log).catch(() => {});
      process.exit(1);
    });
  }

  /** A test that records its failure, so the teardown knows to keep the daemons' logs. */
  ctx.step = (name, fn, options = {}) =>
    test(name, { timeout: 90_000, ...options }, async (tc) => {
      try {
        await fn(tc);
      } catch (err) {
        ctx.failed.push(name);
        throw err;
      }
    });

  describe("certctl console, end to end", { concurrency: false }, () => {
    before(
      async () => {
        // Logs kept by an earlier failed run would pass for this run's.
        rmSync(join(here, "work", "logs"), { recursive: true, force: true });
        ctx.stack = await startStack({ repo, log });
        ctx.baseUrl = ctx.stack.baseUrl;
        ctx.receiver = await startReceiver();
        ctx.recorder = createRecorder(join(here, "screenshots"));
        ctx.browser = await launch();
        log(`  chromium ${ctx.browser.version()}`);
        await seed(ctx, apiClient, randomId);
      },
      { timeout: 150_000 },
    );
    after(
      async () => {
        await teardown(ctx, log);
        if (ctx.recorder) log(`  ${ctx.recorder.screenshots.length} screenshots in ${ctx.recorder.screenshotDir}`);
        log(`e2e: finished in ${elapsed(started)}${ctx.failed.length ? `; failed: ${ctx.failed.join("; ")}` : ""}`);
      },
      { timeout: 60_000 },
    );

    for (const register of scenarios) register(ctx);
  });
}

/** What every scenario shares, made through the REST API with the bootstrap admin key. */
async function seed(ctx, apiClient, randomId) {
  const admin = apiClient(ctx.baseUrl, ctx.stack.adminKey);
  ctx.admin = admin;
  const key = async (role, principal) => {
    const created = await admin.createKey(`e2e-${role}-${randomId(3)}`, role, principal);
    return { key: created.key, principal, role, api: apiClient(ctx.baseUrl, created.key) };
  };
  ctx.keys = {
    admin: { key: ctx.stack.adminKey, principal: "bootstrap-admin", role: "admin", api: admin },
    operator: await key("operator", "op@example.com"),
    approver: await key("operator", "approver@example.com"),
    viewer: await key("viewer", "viewer@example.com"),
  };
  ctx.issuer = await admin.post("/issuers", { name: "E2E Root CA", common_name: "E2E Root CA", key_algorithm: "ecdsa-p256" });
  const profile = (name, extra = {}) =>
    admin.post("/profiles", {
      name,
      max_ttl_seconds: 90 * 86_400,
      allowed_key_algorithms: ["ecdsa-p256"],
      ekus: ["server_auth"],
      san_rules: { allow_subdomains: true },
      ...extra,
    });
  ctx.profile = await profile("e2e-web");
  ctx.gatedProfile = await profile("e2e-gated", { requires_approval: true });
}

async function teardown(ctx, log) {
  if (ctx.tornDown) return;
  ctx.tornDown = true;
  for (const u of Object.values(ctx.users)) await u.context?.close().catch(() => {});
  await ctx.browser?.close().catch(() => {});
  await ctx.receiver?.close().catch(() => {});
  await ctx.stack?.stop({ keepLogsIn: ctx.failed.length ? join(here, "work", "logs") : undefined });
}
