// How long the console takes to load, as a browser sees it: five cold loads (a fresh browser
// context each, so nothing cached) of the dashboard in Debian's Chromium, signed in, timing the
// navigation (DOMContentLoaded, load, first contentful paint) and the moment the dashboard shows
// its data (the revocation table, the last card to fill).
//
//   CERTCTL_KEY=<admin key> npm run bench:load [-- http://127.0.0.1:8080/]
//
// Start the platform first (scripts/dev.sh up prints the key and the URL).
import { chromium } from "playwright-core";

const url = process.argv[2] ?? "http://127.0.0.1:8080/";
const key = process.env.CERTCTL_KEY;
if (!key) {
  console.error("set CERTCTL_KEY to an API key (scripts/dev.sh up prints the admin key)");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CERTCTL_E2E_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const runs = [];
try {
  for (let i = 0; i < 5; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url);
    await page.evaluate((k) => sessionStorage.setItem("certctl.apiKey", k), key);
    const started = performance.now();
    await page.reload();
    await page.getByText("Revocation publishing").waitFor();
    const ready = performance.now() - started;
    const nav = await page.evaluate(() => {
      const n = performance.getEntriesByType("navigation")[0];
      const fcp = performance.getEntriesByName("first-contentful-paint")[0];
      return { dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd, fcp: fcp?.startTime ?? NaN };
    });
    runs.push({ ...nav, ready });
    await context.close();
  }
} finally {
  await browser.close();
}
const median = (k) => {
  const v = runs.map((r) => r[k]).sort((a, b) => a - b);
  return Math.round(v[Math.floor(v.length / 2)]);
};
console.log(`console load, ${runs.length} cold loads of ${url} (median ms):`);
console.log(`  DOMContentLoaded ${median("dcl")}  load ${median("load")}  first contentful paint ${median("fcp")}  dashboard with data ${median("ready")}`);
