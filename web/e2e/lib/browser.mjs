// Chromium through playwright-core (Debian's /usr/bin/chromium, headless; playwright-core brings
// no browser of its own), one browser context per user, and the checks every page gets: a
// full-page screenshot and an axe run.

import assert from "node:assert/strict";
import { mkdirSync, readdirSync, rmSync, existsSync } from "node:fs";
import { join } from "node:path";

import { chromium } from "playwright-core";
import AxeBuilder from "@axe-core/playwright";

import { until } from "./util.mjs";

export const CHROMIUM = process.env.CERTCTL_E2E_CHROMIUM ?? "/usr/bin/chromium";

/** Generous: a 2-core machine building, migrating and running three daemons is slow at times. */
export const WAIT = 20_000;

export async function launch() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (\`apt-get install -y chromium\`; scripts/test.sh does)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root (in containers and CI) Chromium refuses its sandbox; /dev/shm is often tiny there.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
}

/**
 * What the suite records across pages: the axe results per page, the screenshots, and what the
 * browser reported (uncaught exceptions, Content-Security-Policy refusals), each with the user
 * and URL it happened under.
 */
export function createRecorder(screenshotDir) {
  mkdirSync(screenshotDir, { recursive: true });
  // A screenshot left from an earlier run would pass for this run's: start empty.
  for (const f of readdirSync(screenshotDir)) if (f.endsWith(".png")) rmSync(join(screenshotDir, f));
  return { screenshotDir, axe: new Map(), screenshots: [], browserErrors: [] };
}

/** A signed-out browser context for one user, its page, and its errors wired to the recorder. */
export async function newUser(browser, baseURL, recorder, who) {
  const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 860 } });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  // Requests in flight, so a screenshot or axe run waits for the page's data rather than a timer.
  page.inflight = 0;
  page.on("request", () => page.inflight++);
  page.on("requestfinished", () => page.inflight--);
  page.on("requestfailed", () => page.inflight--);
  page.on("pageerror", (err) => recorder.browserErrors.push({ who, url: page.url(), text: `uncaught: ${err.message}` }));
  page.on("console", (msg) => {
    const text = msg.text();
    // A CSP refusal means the built console breaks under the policy the api-server sends.
    if (msg.type() === "error" && /Content Security Policy|Refused to/i.test(text)) {
      recorder.browserErrors.push({ who, url: page.url(), text });
    }
  });
  return { context, page, who };
}

/** Signs in through the form, as a person would: the key typed into "API key", then "Sign in". */
export async function signIn(page, key, { principal, role } = {}) {
  await page.goto("/");
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  if (principal) await assertHeaderShows(page, principal, role);
}

export async function assertHeaderShows(page, principal, role) {
  const banner = page.getByRole("banner");
  await banner.getByText(principal, { exact: true }).waitFor();
  if (role) await banner.getByText(role, { exact: true }).waitFor();
}

/**
 * Saves a full-page screenshot as `<name>.png` and runs axe on the page as it is now. The result
 * is recorded (the accessibility test at the end checks every page); `strict` also fails the
 * calling test at once.
 */
export async function checkPage(page, recorder, name) {
  await settle(page);
  const path = join(recorder.screenshotDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  recorder.screenshots.push(path);
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  recorder.axe.set(name, { url: page.url(), violations: results.violations, bad });
  return bad;
}

/**
 * Waits until the page is quiet: no request in flight and no "Loading…" status, twice in a row
 * 150 ms apart (one render may start the next query), and the fonts loaded.
 */
export async function settle(page) {
  let quiet = 0;
  await until(
    "the page to settle (no request in flight, nothing loading)",
    async () => {
      const loading = await page.locator('[role="status"]', { hasText: /…$/ }).count();
      quiet = page.inflight <= 0 && loading === 0 ? quiet + 1 : 0;
      return quiet >= 2;
    },
    { timeout: WAIT, interval: 150 },
  );
  await page.evaluate(() => document.fonts?.ready);
}

/** The axe violations, one line per rule and the first few offending nodes, for a failure message. */
export function describeViolations(violations) {
  return violations
    .map((v) => {
      const nodes = v.nodes
        .slice(0, 4)
        .map((n) => `      ${n.target.join(" ")}: ${(n.failureSummary ?? "").replace(/\s+/g, " ").slice(0, 240)}`)
        .join("\n");
      return `  [${v.impact}] ${v.id}: ${v.help} (${v.nodes.length} node(s))\n${nodes}`;
    })
    .join("\n");
}

/**
 * Moves the keyboard focus with Tab (only the keyboard: no click, no focus() call) until `target`
 * has it, and checks the focus ring shows. Fails if it takes more than `max` presses, which
 * means the element is not reachable by keyboard in a sensible order.
 */
export async function tabTo(page, target, { max = 60, reverse = false } = {}) {
  await target.waitFor();
  for (let i = 0; i <= max; i++) {
    if (await target.evaluate((el) => el === document.activeElement)) {
      const ring = await target.evaluate((el) => {
        const s = getComputedStyle(el);
        return { outline: s.outlineStyle, width: s.outlineWidth, shadow: s.boxShadow };
      });
      assert.ok(
        (ring.outline !== "none" && ring.width !== "0px") || ring.shadow !== "none",
        `the keyboard focus on ${await target.evaluate((el) => el.outerHTML.slice(0, 120))} is not visible: ${JSON.stringify(ring)}`,
      );
      return i;
    }
    await page.keyboard.press(reverse ? "Shift+Tab" : "Tab");
  }
  const focused = await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 160));
  throw new Error(`${max} presses of Tab did not reach the element (focus is on ${focused})`);
}
