// The remaining pages, reached through the navigation as an admin: each loads its list (with the
// rows the scenario made), gets its screenshot and axe run. Then signing out returns to the form.

import assert from "node:assert/strict";

import { checkPage } from "./lib/browser.mjs";

/**
 * Each page: its link in the navigation, its screenshot name, and something it must list by now
 * (made first through the API by `setup` when no earlier step makes it).
 */
const PAGES = [
  {
    link: "Discovery",
    name: "discovery",
    // A disabled target on a documentation range: listed, never scanned.
    setup: (ctx) => ctx.admin.post("/scan-targets", { name: "e2e-documentation-range", cidrs: ["192.0.2.0/30"], ports: [443], enabled: false }),
    shows: () => "e2e-documentation-range",
  },
  { link: "Issuers", name: "issuers", shows: (ctx) => ctx.issuer.name },
  { link: "Profiles", name: "profiles", shows: (ctx) => ctx.gatedProfile.name },
  { link: "Renewal policies", name: "renewal-policies", shows: () => "built-in" },
  { link: "Audit log", name: "audit-log", shows: () => "certificate.revoke" },
  { link: "API keys", name: "api-keys", shows: (ctx) => ctx.keys.viewer.principal },
];

export default function register(ctx) {
  for (const p of PAGES) {
    ctx.step(`(7) the ${p.link} page lists what the scenario made`, async () => {
      const { page } = ctx.users.admin;
      await p.setup?.(ctx);
      await page.goto("/");
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: p.link, exact: true }).click();
      await page.getByRole("heading", { level: 1 }).first().waitFor();
      await page.getByRole("row").filter({ hasText: p.shows(ctx) }).first().waitFor();
      await checkPage(page, ctx.recorder, p.name);
    });
  }

  ctx.step("signing out forgets the key and shows the sign-in form", async () => {
    const { page } = ctx.users.admin;
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API key").waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, "sessionStorage is empty after signing out");
    await page.reload();
    await page.getByLabel("API key").waitFor();
  });
}
