// The real platform for the end-to-end suite: a fresh database, migrations, and the three daemons
// (api-server serving the built console, notifier-worker, revocation-responder) on free loopback
// ports, with their own RabbitMQ prefix so a run never shares queues with another run or with
// `scripts/dev.sh`. `stop()` undoes all of it; a sync fallback on process exit makes sure no
// daemon outlives the runner even when it crashes.

import { execFile, spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

import { elapsed, freePort, randomId, randomKey, until } from "./util.mjs";

const run = promisify(execFile);

const DAEMONS = ["api-server", "notifier-worker", "revocation-responder"];

/** Which binary each daemon and the migrator are, under the build's profile directory. */
function binaries(binDir) {
  const names = ["certctl-migrate", ...DAEMONS.map((d) => `certctl-${d}`)];
  const missing = names.filter((n) => !existsSync(join(binDir, n)));
  if (missing.length) {
    throw new Error(
      `missing ${missing.join(", ")} in ${binDir}: build them first with \`cargo build --workspace --bins\` ` +
        "(scripts/test.sh does), or point CERTCTL_E2E_BIN_DIR at another profile directory",
    );
  }
  return Object.fromEntries(names.map((n) => [n, join(binDir, n)]));
}

function psql(serverUrl, sql) {
  return run("psql", [`${serverUrl}/postgres`, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], { timeout: 30_000 });
}

/** The most recently changed file under `dir`, or null. */
function newestUnder(dir) {
  let newest = null;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath ?? entry.path, entry.name);
    const { mtimeMs } = statSync(path);
    if (!newest || mtimeMs > newest.mtimeMs) newest = { path, mtimeMs };
  }
  return newest;
}

function tail(file, lines = 25) {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export async function startStack({ repo, log = console.log }) {
  const started = Date.now();
  const binDir = resolve(process.env.CERTCTL_E2E_BIN_DIR ?? join(repo, "target", "debug"));
  const bins = binaries(binDir);
  const webDir = join(repo, "web", "dist");
  if (!existsSync(join(webDir, "index.html"))) {
    throw new Error(`${webDir}/index.html is missing: build the console first with \`npm run build\` in web/`);
  }

  const stale = newestUnder(join(repo, "web", "src"));
  if (stale && stale.mtimeMs > statSync(join(webDir, "index.html")).mtimeMs) {
    log(`  warning: ${stale.path} is newer than web/dist: the console under test may be out of date (npm run build)`);
  }

  const run_id = randomId();
  const serverUrl = (process.env.CERTCTL_E2E_PG ?? "postgres://postgres@127.0.0.1:5432").replace(/\/+$/, "");
  const dbName = `certctl_e2e_${run_id}`;
  const dbUrl = `${serverUrl}/${dbName}`;
  const dir = mkdtempSync(join(tmpdir(), "certctl-e2e-"));
  const stack = {
    run_id,
    dbName,
    dbUrl,
    dir,
    children: new Map(),
    dbCreated: false,
    stopped: false,
  };

  // Whatever happens to the runner from here on (a crash, an exit from a test), no daemon and no
  // database outlives it: `exit` handlers must be synchronous, so this one signals and drops
  // with blocking calls. The normal path, `stop()`, does the same politely first.
  const emergency = () => {
    if (stack.stopped) return;
    for (const child of stack.children.values()) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    if (stack.dbCreated) {
      spawnSync("psql", [`${serverUrl}/postgres`, "-qAtc", `DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`], {
        timeout: 15_000,
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", emergency);

  stack.stop = async ({ keepLogsIn } = {}) => {
    if (stack.stopped) return;
    const t = Date.now();
    // SIGTERM, as Kubernetes does; each daemon drains and exits on its own. One that does not
    // within 20 s is killed (and that is reported, since it is a bug of its own).
    await Promise.all(
      [...stack.children.entries()].map(async ([name, child]) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const timer = setTimeout(() => {
          log(`  ${name} did not stop within 20s of SIGTERM: killing it`);
          child.kill("SIGKILL");
        }, 20_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    if (keepLogsIn) {
      rmSync(keepLogsIn, { recursive: true, force: true });
      mkdirSync(keepLogsIn, { recursive: true });
      cpSync(join(dir, "logs"), keepLogsIn, { recursive: true });
      log(`  daemon logs kept in ${keepLogsIn}`);
    }
    if (stack.dbCreated) {
      try {
        await psql(serverUrl, `DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
      } catch (err) {
        log(`  could not drop ${dbName}: ${err.message}`);
      }
    }
    rmSync(dir, { recursive: true, force: true });
    stack.stopped = true;
    process.off("exit", emergency);
    log(`  stack stopped, database ${dbName} dropped (${elapsed(t)})`);
  };

  try {
    await psql(serverUrl, `CREATE DATABASE "${dbName}"`);
    stack.dbCreated = true;

    const [apiPort, apiAdmin, workerAdmin, responderPort, responderAdmin] = await Promise.all(
      Array.from({ length: 5 }, () => freePort()),
    );
    const adminKey = `cctl_e2e_${randomId(24)}`;
    const caKek = randomKey();
    let responderKek = randomKey();
    while (responderKek === caKek) responderKek = randomKey();

    // A clean environment: nothing of the developer's own CERTCTL_* settings leaks in.
    const base = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      RUST_LOG: process.env.CERTCTL_E2E_RUST_LOG ?? "info,sqlx=warn,sea_orm=warn,lapin=warn,hyper=warn,tower_http=warn",
      RUST_BACKTRACE: "1",
      CERTCTL_DATABASE_URL: dbUrl,
    };
    const broker = {
      CERTCTL_AMQP_URL: process.env.CERTCTL_E2E_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672/%2f",
      // Its own queues, which RabbitMQ deletes a minute after the run stops using them.
      CERTCTL_AMQP_PREFIX: `certctl-e2e-${run_id}`,
      CERTCTL_AMQP_QUEUE_EXPIRES: "60s",
    };
    // Both the api-server and the worker read and validate these; keep them equal. Short backoff
    // so five failed attempts take seconds: 1 s, then 2 s each.
    const notifications = {
      CERTCTL_OUTBOUND_ALLOW_PRIVATE: "true",
      CERTCTL_NOTIFICATION_BACKOFF_BASE: "1s",
      CERTCTL_NOTIFICATION_BACKOFF_CAP: "2s",
      CERTCTL_NOTIFICATION_RETRY_INTERVAL: "1s",
    };
    const publicPki = `http://127.0.0.1:${responderPort}`;
    const env = {
      "api-server": {
        ...base,
        ...broker,
        ...notifications,
        CERTCTL_API_ADDR: `127.0.0.1:${apiPort}`,
        CERTCTL_ADMIN_ADDR: `127.0.0.1:${apiAdmin}`,
        CERTCTL_KEY_ENCRYPTION_KEY: caKek,
        CERTCTL_BOOTSTRAP_ADMIN_KEY: adminKey,
        CERTCTL_PUBLIC_PKI_URL: publicPki,
        CERTCTL_WEB_DIR: webDir,
      },
      "notifier-worker": {
        ...base,
        ...broker,
        ...notifications,
        CERTCTL_ADMIN_ADDR: `127.0.0.1:${workerAdmin}`,
        CERTCTL_KEY_ENCRYPTION_KEY: caKek,
        CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY: responderKek,
        CERTCTL_WORKER_ID: `e2e-${run_id}`,
      },
      // The public responder never gets the CA key-encryption key.
      "revocation-responder": {
        ...base,
        CERTCTL_RESPONDER_ADDR: `127.0.0.1:${responderPort}`,
        CERTCTL_ADMIN_ADDR: `127.0.0.1:${responderAdmin}`,
        CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY: responderKek,
      },
    };
    const admin = {
      "api-server": apiAdmin,
      "notifier-worker": workerAdmin,
      "revocation-responder": responderAdmin,
    };

    await run(bins["certctl-migrate"], ["up"], { env: base, timeout: 120_000 });

    mkdirSync(join(dir, "logs"));
    const logFile = (name) => join(dir, "logs", `${name}.log`);
    for (const name of DAEMONS) {
      const fd = openSync(logFile(name), "a");
      const child = spawn(bins[`certctl-${name}`], [], { env: env[name], stdio: ["ignore", fd, fd] });
      child.on("error", (err) => log(`  ${name}: ${err.message}`));
      stack.children.set(name, child);
    }

    // Ready means each daemon's admin /readyz says 200 (the worker's only once it has the broker).
    // A daemon that exits meanwhile fails the start at once, with its last log lines.
    await Promise.all(
      DAEMONS.map((name) =>
        until(
          `${name} /readyz`,
          async () => {
            const child = stack.children.get(name);
            if (child.exitCode !== null || child.signalCode !== null) {
              const err = new Error(`${name} exited (${child.exitCode ?? child.signalCode}):\n${tail(logFile(name))}`);
              err.fatal = true;
              throw err;
            }
            const resp = await fetch(`http://127.0.0.1:${admin[name]}/readyz`);
            return resp.status === 200;
          },
          { timeout: 60_000, interval: 200 },
        ).catch((err) => {
          throw new Error(`${err.message}\n--- ${name} log ---\n${tail(logFile(name))}`);
        }),
      ),
    );

    Object.assign(stack, {
      baseUrl: `http://127.0.0.1:${apiPort}`,
      publicPki,
      adminKey,
      logFile,
      tail,
    });
    log(`  stack ready in ${elapsed(started)}: console ${stack.baseUrl}, database ${dbName}, prefix ${broker.CERTCTL_AMQP_PREFIX}`);
    return stack;
  } catch (err) {
    await stack.stop();
    throw err;
  }
}
