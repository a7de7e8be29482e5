// Certificates: issue one through the form with a key generated on the server, revoke it from its
// detail page (keyboard only, reason keyCompromise).

import assert from "node:assert/strict";

import { checkPage, tabTo, WAIT } from "./lib/browser.mjs";
import { until } from "./lib/util.mjs";

const CN = "web.e2e.example.com";

/** The newest certificate with this common name, as the API has it. */
async function certificateNamed(api, cn) {
  const page = await api.get(`/certificates?common_name=${encodeURIComponent(cn)}&limit=5`);
  return page.data[0];
}

/** A certificate made through the API, for a step whose subject is not the issuance. */
export async function issueByApi(ctx, cn) {
  return ctx.admin.post("/certificates", {
    issuer_id: ctx.issuer.id,
    profile_id: ctx.profile.id,
    common_name: cn,
    sans: [cn],
    key_algorithm: "ecdsa-p256",
    ttl_seconds: 30 * 86_400,
  });
}

export default function register(ctx) {
  ctx.step("(2) an admin issues a certificate through the form (key generated on the server) and sees it", async () => {
    const { page } = ctx.users.admin;
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Certificates", exact: true }).click();
    await page.getByRole("button", { name: "Issue certificate" }).click();

    // The form (a modal dialog), filled as a person would, by its labels.
    const dialog = page.getByRole("dialog", { name: "Issue a certificate" });
    await dialog.getByLabel("Issuer").selectOption(ctx.issuer.id);
    await dialog.getByLabel("Profile").selectOption(ctx.profile.id);
    await dialog.getByLabel("Common name").fill(CN);
    await dialog.getByLabel("Subject alternative names").fill(CN);
    await dialog.getByLabel("Lifetime (days)").fill("30");
    await dialog.getByRole("group", { name: "Key source" }).getByRole("radio", { name: "Generate the key on the server" }).check();
    await dialog.getByLabel("Key algorithm").selectOption("ecdsa-p256");
    await checkPage(page, ctx.recorder, "certificate-issue-form");

    await dialog.getByRole("button", { name: "Issue", exact: true }).click();
    await dialog.getByRole("status").filter({ hasText: `Issued ${CN}` }).waitFor();

    // The server has it, issued for the admin, with the lifetime asked for.
    const cert = await until("the issued certificate in the API", () => certificateNamed(ctx.admin, CN), { timeout: WAIT });
    ctx.certId = cert.id;
    assert.equal(cert.status, "active");
    assert.equal(cert.key_algorithm, "ecdsa-p256");
    assert.equal(cert.requested_by, "bootstrap-admin");
    assert.deepEqual(cert.sans, [CN]);
    const days = (Date.parse(cert.not_after) - Date.parse(cert.not_before)) / 86_400_000;
    assert.ok(Math.abs(days - 30) < 1.01, `lifetime ${days} days`);
    // A key generated on the server is shown this once: the dialog must show it now.
    await dialog.getByLabel("Private key (PEM)").filter({ hasText: /BEGIN (EC )?PRIVATE KEY/ }).waitFor();
    await checkPage(page, ctx.recorder, "certificate-issued");
    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.waitFor({ state: "hidden" });

    // And the list shows it, active, linking to its page.
    const row = page.getByTestId("certificate-row").filter({ hasText: CN });
    await row.getByText("active", { exact: true }).waitFor();
    assert.equal(await row.getByRole("link", { name: CN }).getAttribute("href"), `/certificates/${cert.id}`);
    await checkPage(page, ctx.recorder, "certificates");
  });

  ctx.step("(3) the admin revokes it from its detail page with reason keyCompromise, keyboard only", async () => {
    const { page } = ctx.users.admin;
    ctx.certId ??= (await issueByApi(ctx, CN)).id;
    await page.goto(`/certificates/${ctx.certId}`);
    await page.getByRole("heading", { level: 1, name: CN }).waitFor();
    await checkPage(page, ctx.recorder, "certificate-detail");

    // Tab to "Revoke", Enter opens the dialog; the reason, then Tab to "Revoke certificate", Enter.
    await tabTo(page, page.getByRole("button", { name: "Revoke", exact: true }), { max: 80 });
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "Revoke this certificate" });
    await dialog.waitFor();
    const reason = dialog.getByLabel("Reason");
    await tabTo(page, reason);
    await reason.selectOption("keyCompromise");
    await checkPage(page, ctx.recorder, "certificate-revoke-dialog");
    await tabTo(page, dialog.getByRole("button", { name: "Revoke certificate" }));
    await page.keyboard.press("Enter");

    await dialog.waitFor({ state: "hidden" });
    await page.locator(".fields").first().getByText("revoked", { exact: true }).waitFor();
    await page.getByRole("heading", { name: "Revocation" }).waitFor();
    await page.getByText("keyCompromise", { exact: true }).waitFor();
    const cert = await ctx.admin.get(`/certificates/${ctx.certId}`);
    assert.equal(cert.status, "revoked");
    assert.equal(cert.revocation?.reason, "keyCompromise");
    // A revoked certificate cannot be revoked again, and the page says why.
    const again = page.getByRole("button", { name: "Revoke", exact: true });
    assert.ok(await again.isDisabled(), "Revoke is disabled once revoked");
    assert.match((await again.getAttribute("title")) ?? "", /Already revoked/);
    await checkPage(page, ctx.recorder, "certificate-detail-revoked");
  });
}
