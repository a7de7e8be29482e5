// Signing in: the form works with the keyboard alone, a wrong key is refused with a message, and
// the header shows who is signed in, with the navigation of the role.

import assert from "node:assert/strict";

import { assertHeaderShows, checkPage, newUser, tabTo } from "./lib/browser.mjs";

export const NAV = ["Dashboard", "Certificates", "Discovery", "Approvals", "Notifications", "Channels", "Issuers", "Profiles", "Renewal policies", "Audit log", "API keys"];

export default function register(ctx) {
  ctx.step("(1) an admin signs in with the keyboard only and sees principal and role", async () => {
    const admin = await newUser(ctx.browser, ctx.baseUrl, ctx.recorder, "admin");
    ctx.users.admin = admin;
    const { page } = admin;
    await page.goto("/");
    const keyInput = page.getByLabel("API key");
    await keyInput.waitFor();
    await checkPage(page, ctx.recorder, "sign-in");

    // A wrong key: refused, with a message, and still on the form.
    await tabTo(page, keyInput);
    await page.keyboard.type("cctl_not_a_key_of_this_installation_000000");
    await page.keyboard.press("Enter");
    await page.getByRole("alert").waitFor();
    assert.match(await page.getByRole("alert").innerText(), /401|unauth|key/i);
    assert.equal(await page.getByRole("button", { name: "Sign out" }).count(), 0);

    // The right key, typed, then Tab to "Sign in" and Enter.
    await keyInput.press("ControlOrMeta+a");
    await page.keyboard.press("Backspace");
    await page.keyboard.type(ctx.keys.admin.key);
    await tabTo(page, page.getByRole("button", { name: "Sign in" }));
    await page.keyboard.press("Enter");
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    await assertHeaderShows(page, "bootstrap-admin", "admin");

    // An admin may read everything, so every page is in the navigation.
    const nav = page.getByRole("navigation", { name: "Main" });
    for (const name of NAV) await nav.getByRole("link", { name, exact: true }).waitFor();
    // The key lives in this tab's sessionStorage only: never localStorage, never a cookie.
    const stored = await page.evaluate(() => ({ local: Object.keys(localStorage).length, session: Object.keys(sessionStorage) }));
    assert.equal(stored.local, 0, "nothing in localStorage");
    assert.ok(stored.session.length > 0, "the key is in sessionStorage");
    assert.equal((await admin.context.cookies()).length, 0, "no cookies");
  });
}
