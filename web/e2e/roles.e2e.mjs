// Roles in the console: a viewer is offered no Revoke or Renew, and an operator cannot approve
// their own request (the buttons are disabled with the reason in plain text), while another
// approver can, and does.

import assert from "node:assert/strict";

import { issueByApi } from "./certificates.e2e.mjs";
import { checkPage, newUser, signIn } from "./lib/browser.mjs";
import { makeCsr } from "./lib/api.mjs";

const OWN = "You requested this: someone else must decide it";
const GATED = "gated.example.com";

export default function register(ctx) {
  ctx.step("(5) a viewer sees an active certificate's detail page without a Revoke or Renew button", async () => {
    // An active certificate: on a revoked one Revoke is disabled for everyone, which would prove nothing.
    const cert = await issueByApi(ctx, "viewer.e2e.example.com");
    const heading = (page) => page.getByRole("heading", { level: 1, name: "viewer.e2e.example.com" });

    // The same page offers both to the admin...
    const { page: adminPage } = ctx.users.admin;
    await adminPage.goto(`/certificates/${cert.id}`);
    await heading(adminPage).waitFor();
    await adminPage.getByRole("button", { name: "Revoke", exact: true }).waitFor();
    await adminPage.getByRole("button", { name: "Renew", exact: true }).waitFor();

    // ...and to the viewer neither.
    const viewer = await newUser(ctx.browser, ctx.baseUrl, ctx.recorder, "viewer");
    ctx.users.viewer = viewer;
    await signIn(viewer.page, ctx.keys.viewer.key, { principal: ctx.keys.viewer.principal, role: "viewer" });
    await viewer.page.goto(`/certificates/${cert.id}`);
    await heading(viewer.page).waitFor();
    await viewer.page.getByText("active", { exact: true }).first().waitFor();
    assert.equal(await viewer.page.getByRole("button", { name: "Revoke", exact: true }).count(), 0, "no Revoke for a viewer");
    assert.equal(await viewer.page.getByRole("button", { name: "Renew", exact: true }).count(), 0, "no Renew for a viewer");
    // Nor the pages a viewer may not read.
    const nav = viewer.page.getByRole("navigation", { name: "Main" });
    assert.equal(await nav.getByRole("link", { name: "API keys" }).count(), 0, "no API keys link for a viewer");
    await checkPage(viewer.page, ctx.recorder, "certificate-detail-viewer");
  });

  ctx.step("(6) an operator sees their own request on Approvals with Approve disabled and why; another approver may decide it", async () => {
    // The request, CSR-based, through the API with the operator's key.
    const csr = await makeCsr(GATED);
    const awaiting = await ctx.keys.operator.api.post("/certificates", {
      issuer_id: ctx.issuer.id,
      profile_id: ctx.gatedProfile.id,
      common_name: GATED,
      sans: [GATED],
      csr_pem: csr,
    }, { expect: 202 });
    assert.equal(awaiting.status, "awaiting_approval");
    assert.equal(awaiting.requested_by, ctx.keys.operator.principal);

    const operator = await newUser(ctx.browser, ctx.baseUrl, ctx.recorder, "operator");
    ctx.users.operator = operator;
    const { page } = operator;
    await signIn(page, ctx.keys.operator.key, { principal: ctx.keys.operator.principal, role: "operator" });
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Approvals", exact: true }).click();
    const card = page.getByRole("article").filter({ hasText: GATED });
    const approve = card.getByRole("button", { name: "Approve" });
    const reject = card.getByRole("button", { name: "Reject" });
    await approve.waitFor();
    assert.ok(await approve.isDisabled(), "Approve is disabled on one's own request");
    assert.ok(await reject.isDisabled(), "Reject is disabled on one's own request");
    // The reason is on the page as text, not only in a tooltip, and the buttons point to it.
    const why = card.getByText(OWN, { exact: true });
    await why.waitFor({ state: "visible" });
    assert.equal(await approve.getAttribute("aria-describedby"), await why.getAttribute("id"));
    await checkPage(page, ctx.recorder, "approvals-own-request");
    // The server agrees: the operator's own approval is refused.
    await assert.rejects(ctx.keys.operator.api.post(`/jobs/${awaiting.job_id}/approve`, {}), /403.*self_approval_forbidden/);

    // Another operator gets working buttons on the same request, and approves it with a note.
    const approver = await newUser(ctx.browser, ctx.baseUrl, ctx.recorder, "approver");
    ctx.users.approver = approver;
    await signIn(approver.page, ctx.keys.approver.key, { principal: ctx.keys.approver.principal, role: "operator" });
    await approver.page.goto("/approvals");
    const theirCard = approver.page.getByRole("article").filter({ hasText: GATED });
    const theirApprove = theirCard.getByRole("button", { name: "Approve" });
    await theirApprove.waitFor();
    assert.ok(await theirApprove.isEnabled(), "Approve is enabled for another approver");
    assert.equal(await approver.page.getByText(OWN).count(), 0);
    await theirCard.getByLabel("Note (optional)").fill("checked by e2e");
    await checkPage(approver.page, ctx.recorder, "approvals");
    await theirApprove.click();
    await approver.page.getByRole("status").filter({ hasText: "Approved: the certificate is issued." }).waitFor();
    const job = await ctx.admin.get(`/jobs/${awaiting.job_id}`);
    assert.equal(job.status, "approved");
    assert.equal(job.decided_by, ctx.keys.approver.principal);
    assert.equal(job.decision_note, "checked by e2e");
    const cert = await ctx.admin.get(`/certificates/${job.certificate_id}`);
    assert.equal(cert.common_name, GATED);
    assert.equal(cert.requested_by, ctx.keys.operator.principal);
  });
}
