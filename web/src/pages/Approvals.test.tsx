import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../api/client";
import { ALL_PERMISSIONS, renderPage, whoami } from "../test/render";
import { ApprovalsPage, SELF_APPROVAL, csrError, requestOf, samePrincipal } from "./Approvals";

vi.mock("../api/client", async (original) => ({
  ...(await original<typeof import("../api/client")>()),
  me: vi.fn(),
  listJobs: vi.fn(),
  approveJob: vi.fn(),
  rejectJob: vi.fn(),
  submitJobCsr: vi.fn(),
  collectJobKey: vi.fn(),
  listIssuers: vi.fn(),
  listProfiles: vi.fn(),
}));

const mocked = vi.mocked(api);
const OPERATOR = ["certificates:read", "certificates:write", "jobs:decide", "notifications:operate"];
const MINE = "0191e7a4-1111-7000-8000-00000000000a";
const THEIRS = "0191e7a4-2222-7000-8000-00000000000b";
const PROFILE_ID = "0191e7a4-cccc-7000-8000-000000000003";
const RENEWAL = "0191e7a4-3333-7000-8000-00000000000c";
const OLD_CERT = "0191e7a4-aaaa-7000-8000-000000000001";
const NEW_CERT = "0191e7a4-aaaa-7000-8000-000000000002";
const CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n";

function job(id: string, requested_by: string, common_name: string, extra: Partial<api.Job> = {}): api.Job {
  return {
    id,
    kind: "issue",
    status: "awaiting_approval",
    issuer_id: "0191e7a4-bbbb-7000-8000-000000000002",
    profile_id: PROFILE_ID,
    request: { common_name, sans: [common_name, `www.${common_name}`], ttl_seconds: 86_400, key_algorithm: "ecdsa-p256", spki_der: "MFk", renew_of: null },
    requested_by,
    created_at: new Date(Date.now() - 3_600_000).toISOString(),
    attempts: 0,
    key_available: false,
    ...extra,
  };
}

/** An automatic renewal the worker filed, as the renewal loop stores its request. */
function renewal(extra: Partial<api.Job> = {}): api.Job {
  return job(RENEWAL, "system:renewal", "renew.corp.example", {
    kind: "renew",
    status: "pending",
    request: { renew_of: OLD_CERT, common_name: "renew.corp.example", serial_hex: "0a1b2c", rotate_key: true, spki_der: null },
    renews_certificate_id: OLD_CERT,
    ...extra,
  });
}

function certificate(id: string): api.Certificate {
  return {
    id,
    issuer_id: "0191e7a4-bbbb-7000-8000-000000000002",
    profile_id: PROFILE_ID,
    serial_hex: "0d0e0f",
    common_name: "renew.corp.example",
    sans: ["renew.corp.example"],
    key_algorithm: "ecdsa-p256",
    status: "active",
    expired: false,
    short_lived: false,
    key_generated: true,
    not_before: new Date().toISOString(),
    not_after: new Date(Date.now() + 90 * 86_400_000).toISOString(),
    requested_by: "system:renewal",
    created_at: new Date().toISOString(),
    source: "api",
    certificate_pem: "-----BEGIN CERTIFICATE-----\nNEWCERT\n-----END CERTIFICATE-----\n",
  };
}

beforeEach(() => {
  vi.resetAllMocks();
  mocked.me.mockResolvedValue(whoami("operator", OPERATOR));
  mocked.listJobs.mockResolvedValue({
    data: [job(MINE, " Operator@Example.com", "mine.corp.example"), job(THEIRS, "alice", "theirs.corp.example")],
    next_cursor: null,
    total: 2,
  });
  mocked.listIssuers.mockResolvedValue({ data: [], next_cursor: null, total: 0 });
  mocked.listProfiles.mockResolvedValue({
    data: [
      {
        id: PROFILE_ID,
        name: "corp-web-approved",
        description: "",
        max_ttl_seconds: 86_400,
        allowed_key_algorithms: ["ecdsa-p256"],
        ekus: ["server_auth"],
        san_rules: { allowed_domains: [], allow_subdomains: false, allow_wildcards: false, allow_ip_addresses: false, max_names: 0 },
        requires_approval: true,
        allow_short_lived: false,
        revision: 1,
        created_at: new Date().toISOString(),
        updated_at: new Date().toISOString(),
      },
    ],
    next_cursor: null,
    total: 1,
  });
});

const card = async (cn: string) => within((await screen.findByRole("heading", { name: new RegExp(cn) })).closest("article") as HTMLElement);

describe("ApprovalsPage", () => {
  it("lists jobs awaiting approval by default, with their request and profile name", async () => {
    renderPage(<ApprovalsPage />);
    const theirs = await card("theirs.corp.example");
    expect(mocked.listJobs).toHaveBeenCalledWith({ status: "awaiting_approval", cursor: undefined, limit: 50 });
    expect(theirs.getByText("issue")).toBeInTheDocument();
    expect(theirs.getByText("alice")).toBeInTheDocument();
    expect(theirs.getByText("theirs.corp.example, www.theirs.corp.example")).toBeInTheDocument();
    expect(await theirs.findByRole("link", { name: "corp-web-approved" })).toHaveAttribute("href", `/profiles/${PROFILE_ID}`);
    expect(theirs.getByRole("time")).toBeInTheDocument();
  });

  it("disables deciding your own request and says why, in plain sight", async () => {
    const { client } = renderPage(<ApprovalsPage />);
    await waitFor(() => expect(client.getQueryData(["me"])).toBeDefined());
    const mine = await card("mine.corp.example");
    await waitFor(() => expect(mine.getByRole("button", { name: "Approve" })).toBeDisabled());
    expect(mine.getByRole("button", { name: "Reject" })).toBeDisabled();
    const why = mine.getByText(SELF_APPROVAL);
    expect(why).toBeVisible();
    expect(SELF_APPROVAL).toBe("You requested this: someone else must decide it");
    expect(mine.getByRole("button", { name: "Approve" })).toHaveAccessibleDescription(SELF_APPROVAL);

    const theirs = await card("theirs.corp.example");
    expect(theirs.getByRole("button", { name: "Approve" })).toBeEnabled();
    expect(theirs.queryByText(SELF_APPROVAL)).not.toBeInTheDocument();
  });

  it("approves with the job id and the note, and shows the issued certificate", async () => {
    const user = userEvent.setup();
    mocked.approveJob.mockResolvedValue(job(THEIRS, "alice", "theirs.corp.example", { status: "approved", certificate_id: "0191e7a4-aaaa-7000-8000-000000000001" }));
    renderPage(<ApprovalsPage />);
    const theirs = await card("theirs.corp.example");
    await user.type(theirs.getByLabelText("Note (optional)"), "ticket CHG-1234");
    await user.click(theirs.getByRole("button", { name: "Approve" }));
    await waitFor(() => expect(mocked.approveJob).toHaveBeenCalledTimes(1));
    expect(mocked.approveJob).toHaveBeenCalledWith(THEIRS, "ticket CHG-1234");
    expect(await screen.findByRole("link", { name: "Open the certificate" })).toHaveAttribute(
      "href",
      "/certificates/0191e7a4-aaaa-7000-8000-000000000001",
    );
  });

  it("rejects without a note, and still shows the server's self-approval refusal", async () => {
    const user = userEvent.setup();
    mocked.rejectJob.mockRejectedValue(
      new api.ApiError({
        type: "https://certctl.dev/problems/self_approval_forbidden",
        title: "Forbidden",
        status: 403,
        detail: "you count as the requester of this job",
        code: "self_approval_forbidden",
      }),
    );
    renderPage(<ApprovalsPage />);
    const theirs = await card("theirs.corp.example");
    await user.click(theirs.getByRole("button", { name: "Reject" }));
    const alert = await theirs.findByRole("alert");
    expect(alert).toHaveTextContent("Forbidden (403): you count as the requester of this job");
    expect(alert).toHaveTextContent("self_approval_forbidden");
    expect(mocked.rejectJob).toHaveBeenCalledWith(THEIRS, undefined);
  });

  it("explains the buttons to a role without jobs:decide", async () => {
    mocked.me.mockResolvedValue(whoami("viewer", ["certificates:read"]));
    const { client } = renderPage(<ApprovalsPage />);
    await waitFor(() => expect(client.getQueryData(["me"])).toBeDefined());
    const theirs = await card("theirs.corp.example");
    expect(theirs.getByRole("button", { name: "Approve" })).toHaveAttribute("title", "Your role cannot decide approval jobs (jobs:decide)");
    expect(theirs.getByRole("button", { name: "Approve" })).toBeDisabled();
  });

  it("filters by status and shows the empty state", async () => {
    const user = userEvent.setup();
    mocked.me.mockResolvedValue(whoami("admin", ALL_PERMISSIONS));
    mocked.listJobs.mockResolvedValue({ data: [], next_cursor: null, total: 0 });
    renderPage(<ApprovalsPage />);
    expect(await screen.findByText("Nothing is waiting for approval.")).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText("Status"), "rejected");
    await waitFor(() => expect(mocked.listJobs).toHaveBeenLastCalledWith({ status: "rejected", cursor: undefined, limit: 50 }));
    expect(await screen.findByText("No job matches.")).toBeInTheDocument();
  });

  it("offers every job status in the filter", async () => {
    renderPage(<ApprovalsPage />);
    await card("theirs.corp.example");
    expect(within(screen.getByLabelText("Status")).getAllByRole("option").map((o) => o.getAttribute("value"))).toEqual([
      "",
      "pending",
      "awaiting_csr",
      "awaiting_approval",
      "approved",
      "completed",
      "rejected",
      "failed",
      "cancelled",
    ]);
    expect(screen.getByRole("option", { name: "awaiting csr" })).toBeInTheDocument();
  });

  it("shows a renewal's certificate, attempts, next attempt and last error", async () => {
    mocked.listJobs.mockResolvedValue({
      data: [renewal({ attempts: 2, next_attempt_at: new Date(Date.now() + 7_205_000).toISOString(), error: "issuer disabled" })],
      next_cursor: null,
      total: 1,
    });
    renderPage(<ApprovalsPage />);
    const c = await card("renew.corp.example");
    expect(c.getByText("pending")).toHaveClass("badge-pending");
    expect(c.getByText("renew (automatic)")).toBeInTheDocument();
    expect(c.getByRole("link", { name: "the certificate with serial 0a1b2c" })).toHaveAttribute("href", `/certificates/${OLD_CERT}`);
    expect(c.getByText("2")).toBeInTheDocument();
    expect(c.getByText("Next attempt")).toBeInTheDocument();
    expect(c.getByText("in 2 hours")).toBeInTheDocument();
    expect(c.getByText("Last error")).toBeInTheDocument();
    expect(c.getByText("issuer disabled")).toBeInTheDocument();
    // Nothing to decide, give or collect on a pending renewal.
    expect(c.queryByRole("button")).not.toBeInTheDocument();
  });

  it("takes a CSR for a renewal waiting for one, checked before sending", async () => {
    const user = userEvent.setup();
    let given = false;
    mocked.listJobs.mockImplementation(async () => ({
      data: [renewal(given ? { status: "completed", certificate_id: NEW_CERT } : { status: "awaiting_csr" })],
      next_cursor: null,
      total: 1,
    }));
    mocked.submitJobCsr.mockImplementation(async () => {
      given = true;
      return renewal({ status: "completed", certificate_id: NEW_CERT });
    });
    renderPage(<ApprovalsPage />);
    const c = await card("renew.corp.example");
    expect(c.queryByRole("button", { name: "Approve" })).not.toBeInTheDocument();
    await user.click(c.getByRole("button", { name: "Submit CSR" }));
    expect(c.getByText("Paste the CSR (PEM)")).toBeInTheDocument();
    await user.type(c.getByLabelText("New CSR (PEM)"), "-----BEGIN PRIVATE KEY-----");
    await user.click(c.getByRole("button", { name: "Submit CSR" }));
    expect(c.getByText(/must contain “-----BEGIN CERTIFICATE REQUEST-----”/)).toBeInTheDocument();
    expect(c.getByLabelText("New CSR (PEM)")).toHaveAttribute("aria-invalid", "true");
    expect(mocked.submitJobCsr).not.toHaveBeenCalled();

    await user.clear(c.getByLabelText("New CSR (PEM)"));
    await user.click(c.getByLabelText("New CSR (PEM)"));
    await user.paste(CSR);
    await user.click(c.getByRole("button", { name: "Submit CSR" }));
    await waitFor(() => expect(mocked.submitJobCsr).toHaveBeenCalledTimes(1));
    expect(mocked.submitJobCsr).toHaveBeenCalledWith(RENEWAL, CSR);
    // The job has left awaiting_csr, and its form with it; the outcome stays in sight.
    await waitFor(() => expect(c.queryByLabelText("New CSR (PEM)")).not.toBeInTheDocument());
    expect(screen.getByRole("status")).toHaveTextContent("CSR accepted: renewed.");
    expect(screen.getByRole("link", { name: "Open the new certificate" })).toHaveAttribute("href", `/certificates/${NEW_CERT}`);
  });

  it("shows a refused CSR's problem, and explains the form to a role without certificates:write", async () => {
    const user = userEvent.setup();
    mocked.listJobs.mockResolvedValue({ data: [renewal({ status: "awaiting_csr" })], next_cursor: null, total: 1 });
    mocked.submitJobCsr.mockRejectedValue(new api.ApiError({ type: "x", title: "Bad Request", status: 400, detail: "the key is not allowed", code: "key_not_allowed" }));
    const { unmount } = renderPage(<ApprovalsPage />);
    const c = await card("renew.corp.example");
    await user.click(c.getByLabelText("New CSR (PEM)"));
    await user.paste(CSR);
    await user.click(c.getByRole("button", { name: "Submit CSR" }));
    expect(await c.findByRole("alert")).toHaveTextContent("Bad Request (400): the key is not allowed key_not_allowed");
    unmount();

    mocked.me.mockResolvedValue(whoami("viewer", ["certificates:read"]));
    const viewer = renderPage(<ApprovalsPage />);
    await waitFor(() => expect(viewer.client.getQueryData(["me"])).toBeDefined());
    const v = await card("renew.corp.example");
    const submit = v.getByRole("button", { name: "Submit CSR" });
    expect(submit).toBeDisabled();
    expect(submit).toHaveAccessibleDescription("Your role cannot renew certificates (certificates:write)");
  });

  it("collects a rotated key once and shows it this once, with its certificate", async () => {
    const user = userEvent.setup();
    const completed = renewal({ status: "completed", certificate_id: NEW_CERT, key_available: true, attempts: 1 });
    let collected = false;
    mocked.listJobs.mockImplementation(async () => ({
      data: [collected ? { ...completed, key_available: false, key_retrieved_at: new Date().toISOString() } : completed],
      next_cursor: null,
      total: 1,
    }));
    mocked.collectJobKey.mockImplementation(async () => {
      collected = true;
      return { certificate: certificate(NEW_CERT), chain_pem: "-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n", private_key_pem: KEY };
    });
    renderPage(<ApprovalsPage />);
    const c = await card("renew.corp.example");
    await user.click(c.getByRole("button", { name: "Collect the key" }));
    const dialog = within(await screen.findByRole("dialog", { name: "The renewed certificate's private key" }));
    expect(mocked.collectJobKey).toHaveBeenCalledTimes(1);
    expect(mocked.collectJobKey).toHaveBeenCalledWith(RENEWAL);
    expect(dialog.getByRole("alert")).toHaveTextContent("It is shown this once");
    const key = dialog.getByLabelText("Private key (PEM)");
    expect(key).toHaveValue(KEY);
    expect(key).toHaveAttribute("readonly");
    expect((dialog.getByLabelText("Certificate (PEM)") as HTMLTextAreaElement).value).toContain("NEWCERT");
    expect(dialog.getByRole("link", { name: "Open the certificate" })).toHaveAttribute("href", `/certificates/${NEW_CERT}`);

    // The list is asked again: the key is no longer available, so there is nothing to collect twice.
    await waitFor(() => expect(c.queryByRole("button", { name: "Collect the key" })).not.toBeInTheDocument());
    expect(c.getByText("Key collected")).toBeInTheDocument();
    expect(dialog.getByLabelText("Private key (PEM)")).toHaveValue(KEY);

    await user.click(dialog.getByRole("button", { name: "Done" }));
    await waitFor(() => expect(screen.queryByText(/SECRET/)).not.toBeInTheDocument());
    expect(screen.queryByDisplayValue(KEY)).not.toBeInTheDocument();
    expect(mocked.collectJobKey).toHaveBeenCalledTimes(1);
  });

  it("shows a refused collection in the card", async () => {
    const user = userEvent.setup();
    mocked.listJobs.mockResolvedValue({ data: [renewal({ status: "completed", key_available: true })], next_cursor: null, total: 1 });
    mocked.collectJobKey.mockRejectedValue(new api.ApiError({ type: "x", title: "Conflict", status: 409, detail: "collected already", code: "key_already_collected" }));
    renderPage(<ApprovalsPage />);
    const c = await card("renew.corp.example");
    await user.click(c.getByRole("button", { name: "Collect the key" }));
    expect(await c.findByRole("alert")).toHaveTextContent("Conflict (409): collected already key_already_collected");
    expect(screen.queryByRole("dialog", { name: "The renewed certificate's private key" })).not.toBeInTheDocument();
  });

  it("compares principals as the server does, and reads the request defensively", () => {
    expect(csrError("")).toBe("Paste the CSR (PEM)");
    expect(csrError(CSR)).toBeNull();
    expect(samePrincipal("Alice ", "alice")).toBe(true);
    expect(samePrincipal("alice", "bob")).toBe(false);
    expect(requestOf({ request: null })).toEqual({});
    expect(requestOf({ request: { common_name: 3, sans: ["a", 2] } })).toEqual({
      common_name: undefined,
      sans: ["a"],
      ttl_seconds: undefined,
      key_algorithm: undefined,
      renew_of: null,
    });
  });
});
