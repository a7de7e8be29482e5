// The accessibility verdict over the whole run: every page of the console had an axe run (in the
// state the scenario left it: lists with rows, dialogs and drawers open) with no serious or
// critical violation, and the browser reported no uncaught error and no CSP refusal.

import assert from "node:assert/strict";

import { describeViolations } from "./lib/browser.mjs";

/** Pages that must have been checked; the scenario checks more (the viewer's and operator's views). */
const REQUIRED = [
  "sign-in",
  "dashboard",
  "certificates",
  "certificate-issue-form",
  "certificate-detail",
  "certificate-revoke-dialog",
  "approvals",
  "notifications-all",
  "notifications-dead",
  "notification-drawer",
  "channels",
  "issuers",
  "profiles",
  "audit-log",
  "api-keys",
];

export default function register(ctx) {
  ctx.step("(7) axe: 0 serious or critical violations on every page", async () => {
    const { axe } = ctx.recorder;
    ctx.log("  axe results (serious+critical / all violations, by page):");
    for (const [name, r] of axe) {
      const others = r.violations.filter((v) => !r.bad.includes(v)).map((v) => `${v.id} (${v.impact})`);
      ctx.log(`    ${name.padEnd(28)} ${r.bad.length} / ${r.violations.length}${others.length ? `  [${others.join(", ")}]` : ""}`);
    }
    const missing = REQUIRED.filter((n) => !axe.has(n));
    const failing = [...axe].filter(([, r]) => r.bad.length > 0);
    const report = failing.map(([name, r]) => `${name} (${r.url}):\n${describeViolations(r.bad)}`).join("\n");
    assert.ok(
      missing.length === 0 && failing.length === 0,
      [
        missing.length ? `pages never checked (their step failed or did not run): ${missing.join(", ")}` : "",
        failing.length ? `serious or critical violations:\n${report}` : "",
      ]
        .filter(Boolean)
        .join("\n"),
    );
  });

  ctx.step("the browser reported no uncaught error and no Content-Security-Policy refusal", async () => {
    const errors = ctx.recorder.browserErrors.map((e) => `  [${e.who}] ${e.url}: ${e.text}`);
    assert.equal(errors.length, 0, `browser errors:\n${errors.join("\n")}`);
  });
}
