// The remaining pages, reached through the navigation as an admin: each loads its list (with the
// rows the scenario made), gets its screenshot and axe run. Then signing out returns to the form.

import assert from "node:assert/strict";

import { checkPage } from "./lib/browser.mjs";

/** Each page: its link in the navigation, its screenshot name, and something it must list by now. */
const PAGES = [
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
