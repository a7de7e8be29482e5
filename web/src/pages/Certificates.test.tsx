import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../api/client";
import { ALL_PERMISSIONS, renderPage, whoami } from "../test/render";
import { CertificateDetailPage, CertificatesPage, issueBody, validateIssue, type IssueDraft } from "./Certificates";

vi.mock("../api/client", async (original) => ({
  ...(await original<typeof import("../api/client")>()),
  me: vi.fn(),
  listCertificates: vi.fn(),
  getCertificate: vi.fn(),
  getCertificatePem: vi.fn(),
  issueCertificate: vi.fn(),
  renewCertificate: vi.fn(),
  revokeCertificate: vi.fn(),
  bulkRevoke: vi.fn(),
  listIssuers: vi.fn(),
  listProfiles: vi.fn(),
  listRenewalPolicies: vi.fn(),
  setCertificatePolicy: vi.fn(),
}));

const mocked = vi.mocked(api);

const CERT_ID = "0191e7a4-aaaa-7000-8000-000000000001";
const ISSUER_ID = "0191e7a4-bbbb-7000-8000-000000000002";
const PROFILE_ID = "0191e7a4-cccc-7000-8000-000000000003";
const JOB_ID = "0191e7a4-dddd-7000-8000-000000000004";
const BUILT_IN_ID = "0191e7a4-eeee-7000-8000-000000000005";
const MONTHLY_ID = "0191e7a4-eeee-7000-8000-000000000006";
const CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
const OPERATOR = ["certificates:read", "certificates:write", "jobs:decide", "notifications:operate"];

function cert(extra: Partial<api.Certificate> = {}): api.Certificate {
  const day = 86_400_000;
  return {
    id: CERT_ID,
    issuer_id: ISSUER_ID,
    profile_id: PROFILE_ID,
    serial_hex: "5f0e1d2c3b4a59687766554433221100",
    common_name: "web.corp.example",
    sans: ["web.corp.example", "www.corp.example"],
    key_algorithm: "ecdsa-p256",
    status: "active",
    expired: false,
    short_lived: false,
    key_generated: false,
    renew_after: new Date(Date.now() + 20 * day).toISOString(),
    not_before: new Date(Date.now() - day).toISOString(),
    not_after: new Date(Date.now() + 30 * day).toISOString(),
    requested_by: "alice",
    created_at: new Date(Date.now() - day).toISOString(),
    source: "api",
    certificate_pem: "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n",
    ...extra,
  };
}

const issuer: api.Issuer = {
  id: ISSUER_ID,
  name: "corp-root",
  common_name: "Corp Root CA",
  key_algorithm: "ecdsa-p384",
  is_root: true,
  serial_hex: "01",
  not_before: new Date().toISOString(),
  not_after: new Date(Date.now() + 3650 * 86_400_000).toISOString(),
  certificate_pem: "-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n",
  created_by: "admin",
  created_at: new Date().toISOString(),
  crl_shards: 0,
};

const profile: api.Profile = {
  id: PROFILE_ID,
  name: "corp-web",
  description: "",
  max_ttl_seconds: 90 * 86_400,
  allowed_key_algorithms: ["ecdsa-p256", "rsa-2048"],
  ekus: ["server_auth"],
  san_rules: { allowed_domains: ["corp.example"], allow_subdomains: true, allow_wildcards: false, allow_ip_addresses: false, max_names: 0 },
  requires_approval: false,
  allow_short_lived: false,
  revision: 1,
  created_at: new Date().toISOString(),
  updated_at: new Date().toISOString(),
};

function policy(id: string, name: string, extra: Partial<api.RenewalPolicy> = {}): api.RenewalPolicy {
  return {
    id,
    name,
    built_in: false,
    renew_at_fraction: 2 / 3,
    auto_renew: true,
    rotate_key: false,
    max_attempts: 5,
    retry_interval_seconds: 3600,
    created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
    ...extra,
  };
}

function signedInAs(role: "admin" | "operator" | "viewer", permissions: string[]) {
  mocked.me.mockResolvedValue(whoami(role, permissions));
}

beforeEach(() => {
  vi.resetAllMocks();
  signedInAs("admin", ALL_PERMISSIONS);
  mocked.listCertificates.mockResolvedValue({ data: [cert()], next_cursor: null, total: 1 });
  mocked.getCertificate.mockResolvedValue(cert());
  mocked.listIssuers.mockResolvedValue({ data: [issuer], next_cursor: null, total: 1 });
  mocked.listProfiles.mockResolvedValue({ data: [profile], next_cursor: null, total: 1 });
  mocked.listRenewalPolicies.mockResolvedValue({
    data: [policy(BUILT_IN_ID, "default", { built_in: true }), policy(MONTHLY_ID, "monthly", { renew_at_fraction: null, renew_before_seconds: 30 * 86_400 })],
    next_cursor: null,
    total: 2,
  });
});

// jsdom has no object URLs; downloads need them.
beforeEach(() => {
  URL.createObjectURL = vi.fn(() => "blob:download");
  URL.revokeObjectURL = vi.fn();
});

function renderDetail() {
  return renderPage(
    <Routes>
      <Route path="/certificates/:id" element={<CertificateDetailPage />} />
    </Routes>,
    { path: `/certificates/${CERT_ID}` },
  );
}

/** Waits until the session knows the role, so an absent button is absent for the role, not for want of it. */
async function sessionLoaded(client: ReturnType<typeof renderPage>["client"]) {
  await waitFor(() => expect(client.getQueryData(["me"])).toBeDefined());
}

describe("CertificatesPage list", () => {
  it("shows a row per certificate, an expired active one as expired, and its issuer's name", async () => {
    mocked.listCertificates.mockResolvedValue({ data: [cert({ expired: true })], next_cursor: null, total: 1 });
    renderPage(<CertificatesPage />);
    const row = within(await screen.findByTestId("certificate-row"));
    expect(row.getByRole("link", { name: "web.corp.example" })).toHaveAttribute("href", `/certificates/${CERT_ID}`);
    expect(row.getByText("expired")).toHaveClass("badge-expired");
    expect(await row.findByText("corp-root")).toBeInTheDocument();
    expect(row.getByText("5f0e1d2c3b4a59687766554433221100")).toHaveClass("mono");
    expect(row.getByRole("time")).toHaveAttribute("title", expect.stringMatching(/UTC$/));
  });

  it("sends the filters as the API takes them: expiring before as RFC 3339, the name search as q", async () => {
    const user = userEvent.setup();
    renderPage(<CertificatesPage />);
    await screen.findByTestId("certificate-row");
    await user.selectOptions(screen.getByLabelText("Status"), "active");
    await user.selectOptions(screen.getByLabelText("Issuer"), await screen.findByRole("option", { name: "corp-root" }));
    await user.type(screen.getByLabelText("Expiring before"), "2026-12-31");
    await user.type(screen.getByLabelText("Search names"), "corp.example");
    await waitFor(() =>
      expect(mocked.listCertificates).toHaveBeenLastCalledWith({
        status: ["active"],
        issuer_id: ISSUER_ID,
        profile_id: undefined,
        expiring_before: "2026-12-31T00:00:00Z",
        q: "corp.example",
        sort: undefined,
        cursor: undefined,
        limit: 50,
      }),
    );
    await user.selectOptions(screen.getByLabelText("Order"), "expiry");
    await waitFor(() => expect(mocked.listCertificates).toHaveBeenLastCalledWith(expect.objectContaining({ sort: "expiry" })));
  });

  it("offers the six certificate statuses in the filter, and shows each as a badge", async () => {
    const user = userEvent.setup();
    mocked.listCertificates.mockResolvedValue({ data: [cert({ status: "renewal_in_progress" })], next_cursor: null, total: 1 });
    renderPage(<CertificatesPage />);
    const row = within(await screen.findByTestId("certificate-row"));
    expect(row.getByText("renewal in progress")).toHaveClass("badge-renewal_in_progress");
    const status = screen.getByLabelText("Status");
    expect(within(status).getAllByRole("option").map((o) => o.getAttribute("value"))).toEqual([
      "",
      "active,expiring,renewal_in_progress",
      "active",
      "expiring",
      "renewal_in_progress",
      "expired",
      "renewed",
      "revoked",
    ]);
    expect(within(status).queryByRole("option", { name: "superseded" })).not.toBeInTheDocument();
    await user.selectOptions(status, "renewed");
    await waitFor(() => expect(mocked.listCertificates).toHaveBeenLastCalledWith(expect.objectContaining({ status: ["renewed"] })));
    await user.selectOptions(status, "live (active, expiring, being renewed)");
    await waitFor(() =>
      expect(mocked.listCertificates).toHaveBeenLastCalledWith(expect.objectContaining({ status: ["active", "expiring", "renewal_in_progress"] })),
    );
  });

  it("takes several states from the address, and ignores a list with an unknown one whole", async () => {
    const { unmount } = renderPage(<CertificatesPage />, { path: "/certificates?status=active,revoked" });
    await screen.findByTestId("certificate-row");
    expect(screen.getByLabelText("Status")).toHaveValue("active,revoked");
    expect(screen.getByRole("option", { name: "active, revoked" })).toBeInTheDocument();
    expect(mocked.listCertificates).toHaveBeenLastCalledWith(expect.objectContaining({ status: ["active", "revoked"] }));
    unmount();
    renderPage(<CertificatesPage />, { path: "/certificates?status=active,superseded" });
    await screen.findByTestId("certificate-row");
    expect(screen.getByLabelText("Status")).toHaveValue("");
    expect(mocked.listCertificates).toHaveBeenLastCalledWith(expect.objectContaining({ status: undefined }));
  });

  it("takes the status filter from the address, and ignores the old superseded", async () => {
    const { unmount } = renderPage(<CertificatesPage />, { path: "/certificates?status=expiring" });
    await screen.findByTestId("certificate-row");
    expect(screen.getByLabelText("Status")).toHaveValue("expiring");
    expect(mocked.listCertificates).toHaveBeenLastCalledWith(expect.objectContaining({ status: ["expiring"] }));
    unmount();
    renderPage(<CertificatesPage />, { path: "/certificates?status=superseded" });
    await screen.findByTestId("certificate-row");
    expect(screen.getByLabelText("Status")).toHaveValue("");
    expect(mocked.listCertificates).toHaveBeenLastCalledWith(expect.objectContaining({ status: undefined }));
  });

  it("pages with the cursor the API gave, and back", async () => {
    const user = userEvent.setup();
    mocked.listCertificates.mockImplementation(async (q) =>
      q.cursor === "c2"
        ? { data: [cert({ id: "0191e7a4-aaaa-7000-8000-000000000009", common_name: "page2.corp.example" })], next_cursor: null, total: 2 }
        : { data: [cert()], next_cursor: "c2", total: 2 },
    );
    renderPage(<CertificatesPage />);
    await screen.findByText("web.corp.example");
    expect(screen.getByRole("button", { name: "Previous" })).toBeDisabled();
    await user.click(screen.getByRole("button", { name: "Next" }));
    expect(await screen.findByText("page2.corp.example")).toBeInTheDocument();
    expect(mocked.listCertificates).toHaveBeenLastCalledWith(expect.objectContaining({ cursor: "c2" }));
    await user.click(screen.getByRole("button", { name: "Previous" }));
    expect(await screen.findByText("web.corp.example")).toBeInTheDocument();
  });

  it("labels an estimated total as one", async () => {
    mocked.listCertificates.mockResolvedValue({ data: [cert()], next_cursor: "c2", total: 1234567, total_estimated: true });
    renderPage(<CertificatesPage />);
    expect(await screen.findByText("about 1,234,567 in all")).toBeInTheDocument();
  });

  it("shows the empty state and the API's problem", async () => {
    mocked.listCertificates.mockResolvedValueOnce({ data: [], next_cursor: null, total: 0 });
    const { unmount } = renderPage(<CertificatesPage />);
    expect(await screen.findByText("No certificate matches these filters.")).toBeInTheDocument();
    unmount();
    mocked.listCertificates.mockRejectedValue(
      new api.ApiError({ type: "https://certctl.dev/problems/forbidden", title: "Forbidden", status: 403, detail: "role viewer lacks x", code: "forbidden" }),
    );
    renderPage(<CertificatesPage />);
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Forbidden (403)");
    expect(alert).toHaveTextContent("forbidden");
  });

  it("hides Issue certificate from a viewer, and bulk revoke from an operator", async () => {
    signedInAs("viewer", ["certificates:read"]);
    const viewer = renderPage(<CertificatesPage />);
    await sessionLoaded(viewer.client);
    await screen.findByTestId("certificate-row");
    expect(screen.queryByRole("button", { name: "Issue certificate" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /bulk revoke/i })).not.toBeInTheDocument();
    viewer.unmount();

    signedInAs("operator", OPERATOR);
    const operator = renderPage(<CertificatesPage />);
    await sessionLoaded(operator.client);
    expect(await screen.findByRole("button", { name: "Issue certificate" })).toBeEnabled();
    expect(screen.queryByRole("button", { name: /bulk revoke/i })).not.toBeInTheDocument();
  });
});

describe("issuing", () => {
  const draft = (extra: Partial<IssueDraft> = {}): IssueDraft => ({
    issuer_id: ISSUER_ID,
    profile_id: PROFILE_ID,
    common_name: "web.corp.example",
    sans: "",
    lifetime_days: "",
    source: "generate",
    key_algorithm: "ecdsa-p256",
    csr: "",
    ...extra,
  });

  it("validates before any request", () => {
    expect(validateIssue(draft())).toEqual({});
    expect(validateIssue(draft({ issuer_id: "", profile_id: "", common_name: " " }))).toEqual({
      issuer_id: "Choose an issuer",
      profile_id: "Choose a profile",
      common_name: "Common name is required",
    });
    expect(validateIssue(draft({ lifetime_days: "0" })).lifetime_days).toMatch(/positive whole number/);
    expect(validateIssue(draft({ lifetime_days: "1.5" })).lifetime_days).toMatch(/positive whole number/);
    expect(validateIssue(draft({ lifetime_days: "30" }))).toEqual({});
    expect(validateIssue(draft({ source: "csr", csr: "hello" })).csr).toMatch(/BEGIN CERTIFICATE REQUEST/);
    expect(validateIssue(draft({ source: "csr", csr: CSR }))).toEqual({});
  });

  it("sends exactly one key source", () => {
    const generated = issueBody(draft({ csr: CSR, sans: "a.corp.example\n\n b.corp.example ", lifetime_days: "30" }));
    expect(generated).toEqual({
      issuer_id: ISSUER_ID,
      profile_id: PROFILE_ID,
      common_name: "web.corp.example",
      sans: ["a.corp.example", "b.corp.example"],
      ttl_seconds: 30 * 86_400,
      key_algorithm: "ecdsa-p256",
    });
    const fromCsr = issueBody(draft({ source: "csr", csr: CSR }));
    expect(fromCsr).toEqual({ issuer_id: ISSUER_ID, profile_id: PROFILE_ID, common_name: "web.corp.example", csr_pem: CSR });
    expect(fromCsr).not.toHaveProperty("key_algorithm");
  });

  async function openIssueForm() {
    const user = userEvent.setup();
    renderPage(<CertificatesPage />);
    await user.click(await screen.findByRole("button", { name: "Issue certificate" }));
    const form = within(await screen.findByRole("form", { name: "Issue a certificate" }));
    await screen.findAllByRole("option", { name: "corp-root (Corp Root CA)" });
    return { user, form };
  }

  it("shows each field's error next to it and makes no request while the form is invalid", async () => {
    const { user, form } = await openIssueForm();
    await user.click(form.getByRole("button", { name: "Issue" }));
    expect(form.getByText("Choose an issuer")).toBeInTheDocument();
    expect(form.getByText("Common name is required")).toBeInTheDocument();
    expect(form.getByLabelText("Common name")).toHaveAttribute("aria-invalid", "true");
    expect(form.getByLabelText("Common name")).toHaveAccessibleDescription(expect.stringContaining("Common name is required"));

    await user.selectOptions(form.getByLabelText("Issuer"), ISSUER_ID);
    await user.selectOptions(form.getByLabelText("Profile"), PROFILE_ID);
    await user.type(form.getByLabelText("Common name"), "web.corp.example");
    await user.type(form.getByLabelText("Lifetime (days)"), "-3");
    await user.click(form.getByRole("radio", { name: "Use my CSR" }));
    expect(form.queryByLabelText("Key algorithm")).not.toBeInTheDocument();
    await user.type(form.getByLabelText("CSR (PEM)"), "-----BEGIN PRIVATE KEY-----");
    await user.click(form.getByRole("button", { name: "Issue" }));
    expect(form.getByText(/must contain “-----BEGIN CERTIFICATE REQUEST-----”/)).toBeInTheDocument();
    expect(form.getByText("Lifetime must be a positive whole number of days")).toBeInTheDocument();
    expect(mocked.issueCertificate).not.toHaveBeenCalled();
  });

  it("issues with a server key and shows the private key once, with its warning and download", async () => {
    mocked.issueCertificate.mockResolvedValue({
      ...cert(),
      chain_pem: issuer.certificate_pem,
      private_key_pem: "-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n",
    });
    const { user, form } = await openIssueForm();
    await user.selectOptions(form.getByLabelText("Issuer"), ISSUER_ID);
    await user.selectOptions(form.getByLabelText("Profile"), PROFILE_ID);
    await user.type(form.getByLabelText("Common name"), "web.corp.example");
    await user.type(form.getByLabelText("Subject alternative names"), "www.corp.example{enter}api.corp.example");
    await user.selectOptions(form.getByLabelText("Key algorithm"), "rsa-3072");
    await user.click(form.getByRole("button", { name: "Issue" }));
    await waitFor(() => expect(mocked.issueCertificate).toHaveBeenCalledTimes(1));
    expect(mocked.issueCertificate).toHaveBeenCalledWith({
      issuer_id: ISSUER_ID,
      profile_id: PROFILE_ID,
      common_name: "web.corp.example",
      sans: ["www.corp.example", "api.corp.example"],
      key_algorithm: "rsa-3072",
    });
    expect(await screen.findByText(/certctl does not store it/)).toBeInTheDocument();
    expect(screen.getByLabelText("Private key (PEM)")).toHaveTextContent("SECRET");

    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(() => {});
    await user.click(screen.getByRole("button", { name: "Download key" }));
    expect(click).toHaveBeenCalledTimes(1);
    expect((click.mock.contexts[0] as HTMLAnchorElement).download).toBe("web.corp.example.key");
    click.mockRestore();
  });

  it("sends the CSR and not a key algorithm, and shows the approval job on 202", async () => {
    mocked.issueCertificate.mockResolvedValue({ job_id: JOB_ID, status: "awaiting_approval", requested_by: "admin@example.com" });
    const { user, form } = await openIssueForm();
    await user.selectOptions(form.getByLabelText("Issuer"), ISSUER_ID);
    await user.selectOptions(form.getByLabelText("Profile"), PROFILE_ID);
    await user.type(form.getByLabelText("Common name"), "web.corp.example");
    await user.click(form.getByRole("radio", { name: "Use my CSR" }));
    await user.click(form.getByLabelText("CSR (PEM)"));
    await user.paste(CSR);
    await user.type(form.getByLabelText("Lifetime (days)"), "7");
    await user.click(form.getByRole("button", { name: "Issue" }));
    expect(await screen.findByText(`Waiting for approval: job ${JOB_ID}`)).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Go to Approvals" })).toHaveAttribute("href", "/approvals");
    expect(mocked.issueCertificate).toHaveBeenCalledWith({
      issuer_id: ISSUER_ID,
      profile_id: PROFILE_ID,
      common_name: "web.corp.example",
      ttl_seconds: 7 * 86_400,
      csr_pem: CSR,
    });
  });
});

describe("bulk revoke", () => {
  it("previews the count of active certificates, then revokes them with the criteria and reason", async () => {
    const user = userEvent.setup();
    mocked.listCertificates.mockImplementation(async (q) =>
      q.limit === 1 ? { data: [], next_cursor: null, total: q.status?.join(",") === "active" ? 3 : 0 } : { data: [cert()], next_cursor: null, total: 1 },
    );
    mocked.bulkRevoke.mockResolvedValue({ matched: 3, revoked: 3, skipped: 0, failed: 0, not_found: [] });
    renderPage(<CertificatesPage />);
    await user.click(await screen.findByRole("button", { name: "Bulk revoke…" }));
    const form = within(await screen.findByRole("form", { name: "Bulk revoke" }));
    await user.click(form.getByRole("button", { name: "Preview" }));
    expect(form.getByText(/bulk revocation never means/)).toBeInTheDocument();
    expect(mocked.listCertificates).not.toHaveBeenCalledWith(expect.objectContaining({ limit: 1 }));

    await screen.findAllByRole("option", { name: "corp-web" });
    await user.selectOptions(form.getByLabelText("Profile"), PROFILE_ID);
    await user.selectOptions(form.getByLabelText("Reason"), "cessationOfOperation");
    await user.click(form.getByRole("button", { name: "Preview" }));
    expect(await form.findByText("3 certificates will be revoked")).toBeInTheDocument();
    expect(mocked.listCertificates).toHaveBeenCalledWith({ status: ["active"], issuer_id: undefined, profile_id: PROFILE_ID, limit: 1 });
    await user.click(form.getByRole("button", { name: "Revoke 3 certificates" }));
    await waitFor(() => expect(mocked.bulkRevoke).toHaveBeenCalledTimes(1));
    expect(mocked.bulkRevoke).toHaveBeenCalledWith({ reason: "cessationOfOperation", profile_id: PROFILE_ID });
    expect(await screen.findByText("3 certificates revoked.")).toBeInTheDocument();
  });

  it("counts live and expired certificates as revoked, and names renewed ones apart", async () => {
    const user = userEvent.setup();
    const totals: Record<string, number> = { active: 2, expiring: 1, renewal_in_progress: 1, expired: 1, renewed: 2 };
    mocked.listCertificates.mockImplementation(async (q) =>
      q.limit === 1 ? { data: [], next_cursor: null, total: totals[q.status?.join(",") ?? ""] ?? 0 } : { data: [cert()], next_cursor: null, total: 1 },
    );
    renderPage(<CertificatesPage />);
    await user.click(await screen.findByRole("button", { name: "Bulk revoke…" }));
    const form = within(await screen.findByRole("form", { name: "Bulk revoke" }));
    await screen.findAllByRole("option", { name: "corp-root" });
    await user.selectOptions(form.getByLabelText("Issuer"), ISSUER_ID);
    await user.click(form.getByRole("button", { name: "Preview" }));
    expect(await form.findByText("5 certificates will be revoked")).toBeInTheDocument();
    expect(form.getByText("2 renewed certificates (already replaced by their renewal) also match and will be revoked as well.")).toBeInTheDocument();
    for (const status of ["active", "expiring", "renewal_in_progress", "expired", "renewed"])
      expect(mocked.listCertificates).toHaveBeenCalledWith({ status: [status], issuer_id: ISSUER_ID, profile_id: undefined, limit: 1 });
    expect(mocked.listCertificates).not.toHaveBeenCalledWith(expect.objectContaining({ status: ["superseded"] }));
    expect(form.getByRole("button", { name: "Revoke 7 certificates" })).toBeEnabled();
  });
});

describe("CertificateDetailPage", () => {
  it("shows the certificate, its links, its PEM and its revocation", async () => {
    mocked.getCertificate.mockResolvedValue(
      cert({
        status: "revoked",
        renewed_from_id: "0191e7a4-aaaa-7000-8000-000000000000",
        revocation: { reason: "keyCompromise", revoked_at: new Date().toISOString(), revoked_by: "bob" },
      }),
    );
    renderDetail();
    expect(await screen.findByRole("heading", { name: "web.corp.example", level: 1 })).toBeInTheDocument();
    expect(await screen.findByRole("link", { name: "corp-root" })).toHaveAttribute("href", `/issuers/${ISSUER_ID}`);
    expect(await screen.findByRole("link", { name: "corp-web" })).toHaveAttribute("href", `/profiles/${PROFILE_ID}`);
    expect(screen.getByRole("link", { name: "0191e7a4-aaaa-7000-8000-000000000000" })).toHaveAttribute(
      "href",
      "/certificates/0191e7a4-aaaa-7000-8000-000000000000",
    );
    expect(screen.getByText("keyCompromise")).toBeInTheDocument();
    expect(screen.getByText("bob")).toBeInTheDocument();
    expect(screen.getByText(/MIIC/)).toBeInTheDocument();
    expect(await screen.findByRole("button", { name: "Revoke" })).toBeDisabled();
  });

  it("shows the renewal window, the policy that applies and where the key came from", async () => {
    mocked.getCertificate.mockResolvedValue(cert({ key_generated: true }));
    renderDetail();
    await screen.findByRole("heading", { name: "web.corp.example", level: 1 });
    expect(screen.getByRole("heading", { name: "Renewal", level: 2 })).toBeInTheDocument();
    expect(screen.getByText(/^opens/)).toHaveTextContent("opens in 20 days");
    // No policy of its own, a profile without one: the built-in policy, through the profile.
    expect(await screen.findByRole("link", { name: "default" })).toHaveAttribute("href", "/renewal-policies");
    expect(screen.getByText((_, el) => el?.tagName === "DD" && el.textContent === "the profile's: default (built-in)")).toBeInTheDocument();
    expect(screen.getByText("generated by certctl, which keeps none of it")).toBeInTheDocument();
  });

  it("names a certificate's own policy, and says when the window has closed", async () => {
    mocked.getCertificate.mockResolvedValue(cert({ status: "renewed", renewal_policy_id: MONTHLY_ID, renew_after: null }));
    renderDetail();
    expect(await screen.findByRole("link", { name: "monthly" })).toHaveAttribute("href", "/renewal-policies");
    expect(screen.getByText("(its own)")).toBeInTheDocument();
    expect(screen.getByText("none: the certificate is no longer live")).toBeInTheDocument();
    expect(screen.getByText("the requester's own (from a CSR)")).toBeInTheDocument();
    expect(screen.getByText("renewed")).toHaveClass("badge-renewed");
    const renew = screen.getByRole("button", { name: "Renew" });
    expect(renew).toBeDisabled();
    expect(renew).toHaveAccessibleDescription("A renewed certificate cannot be renewed.");
  });

  it("lets an admin set the certificate's policy, and go back to the profile's", async () => {
    const user = userEvent.setup();
    mocked.setCertificatePolicy.mockImplementation(async (_id, policyId) => cert({ renewal_policy_id: policyId }));
    renderDetail();
    const form = within(await screen.findByRole("form", { name: "Renewal policy of this certificate" }));
    const select = form.getByLabelText("Follow the renewal policy");
    expect(select).toHaveValue("");
    expect(form.getAllByRole("option").map((o) => o.textContent)).toEqual(["the profile's policy", "default (built-in)", "monthly"]);
    expect(form.getByRole("button", { name: "Set policy" })).toBeDisabled();
    await user.selectOptions(select, MONTHLY_ID);
    await user.click(form.getByRole("button", { name: "Set policy" }));
    await waitFor(() => expect(mocked.setCertificatePolicy).toHaveBeenCalledWith(CERT_ID, MONTHLY_ID));
    expect(await form.findByRole("status")).toHaveTextContent(/Saved: the renewal window now opens/);
    expect(await screen.findByText("(its own)")).toBeInTheDocument();

    await user.selectOptions(select, "");
    await user.click(form.getByRole("button", { name: "Set policy" }));
    await waitFor(() => expect(mocked.setCertificatePolicy).toHaveBeenLastCalledWith(CERT_ID, null));
  });

  it("shows no policy control to an operator (profiles:write)", async () => {
    signedInAs("operator", OPERATOR);
    const { client } = renderDetail();
    await sessionLoaded(client);
    await screen.findByRole("link", { name: "default" });
    expect(screen.queryByRole("form", { name: "Renewal policy of this certificate" })).not.toBeInTheDocument();
  });

  it("renders no Revoke or Renew button for a viewer", async () => {
    signedInAs("viewer", ["certificates:read"]);
    const { client } = renderDetail();
    await sessionLoaded(client);
    await screen.findByRole("heading", { name: "web.corp.example", level: 1 });
    expect(screen.getByRole("button", { name: "Download PEM chain" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /revoke/i })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /renew/i })).not.toBeInTheDocument();
  });

  it("revokes through the dialog with exactly (id, { reason })", async () => {
    const user = userEvent.setup();
    signedInAs("operator", OPERATOR);
    mocked.revokeCertificate.mockResolvedValue(cert({ status: "revoked" }));
    renderDetail();
    await user.click(await screen.findByRole("button", { name: "Revoke" }));
    const dialog = within(await screen.findByRole("dialog", { name: "Revoke this certificate" }));
    expect(dialog.getByLabelText("Reason")).toHaveValue("unspecified");
    expect(dialog.getAllByRole("option").map((o) => o.getAttribute("value"))).toEqual([
      "unspecified",
      "keyCompromise",
      "cACompromise",
      "affiliationChanged",
      "superseded",
      "cessationOfOperation",
      "privilegeWithdrawn",
    ]);
    await user.selectOptions(dialog.getByLabelText("Reason"), "keyCompromise");
    await user.click(dialog.getByRole("button", { name: "Revoke certificate" }));
    await waitFor(() => expect(mocked.revokeCertificate).toHaveBeenCalledTimes(1));
    expect(mocked.revokeCertificate).toHaveBeenCalledWith(CERT_ID, { reason: "keyCompromise" });
  });

  it("shows a refused revocation's problem in the dialog", async () => {
    const user = userEvent.setup();
    mocked.revokeCertificate.mockRejectedValue(
      new api.ApiError({ type: "x", title: "Conflict", status: 409, detail: "already revoked at …", code: "already_revoked" }),
    );
    renderDetail();
    await user.click(await screen.findByRole("button", { name: "Revoke" }));
    await user.click(await screen.findByRole("button", { name: "Revoke certificate" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Conflict (409): already revoked at … already_revoked");
  });

  it("renews after confirmation with the id alone, and shows the approval job", async () => {
    const user = userEvent.setup();
    mocked.renewCertificate.mockResolvedValue({ job_id: JOB_ID, status: "awaiting_approval", requested_by: "operator@example.com" });
    renderDetail();
    await user.click(await screen.findByRole("button", { name: "Renew" }));
    expect(mocked.renewCertificate).not.toHaveBeenCalled();
    await user.click(await screen.findByRole("button", { name: "Renew certificate" }));
    expect(await screen.findByText(`Waiting for approval: job ${JOB_ID}`)).toBeInTheDocument();
    expect(mocked.renewCertificate).toHaveBeenCalledWith(CERT_ID);
  });

  it("downloads the PEM chain the API serves as <cn>.pem", async () => {
    const user = userEvent.setup();
    mocked.getCertificatePem.mockResolvedValue("CHAIN");
    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(() => {});
    renderDetail();
    await user.click(await screen.findByRole("button", { name: "Download PEM chain" }));
    await waitFor(() => expect(click).toHaveBeenCalledTimes(1));
    expect(mocked.getCertificatePem).toHaveBeenCalledWith(CERT_ID);
    expect((click.mock.contexts[0] as HTMLAnchorElement).download).toBe("web.corp.example.pem");
    const blob = vi.mocked(URL.createObjectURL).mock.calls[0]![0] as Blob;
    const text = await new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.readAsText(blob);
    });
    expect(text).toBe("CHAIN");
    click.mockRestore();
  });

  it("shows a 403 from the API as a problem", async () => {
    mocked.getCertificate.mockRejectedValue(
      new api.ApiError({ type: "x", title: "Forbidden", status: 403, detail: "role auditor lacks certificates:read", code: "forbidden" }),
    );
    renderDetail();
    expect(await screen.findByRole("alert")).toHaveTextContent("Forbidden (403): role auditor lacks certificates:read");
  });
});
