import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../api/client";
import { ALL_PERMISSIONS, renderPage, whoami } from "../test/render";
import { ApprovalsPage, SELF_APPROVAL, requestOf, samePrincipal } from "./Approvals";

vi.mock("../api/client", async (original) => ({
  ...(await original<typeof import("../api/client")>()),
  me: vi.fn(),
  listJobs: vi.fn(),
  approveJob: vi.fn(),
  rejectJob: vi.fn(),
  listIssuers: vi.fn(),
  listProfiles: vi.fn(),
}));

const mocked = vi.mocked(api);
const OPERATOR = ["certificates:read", "certificates:write", "jobs:decide", "notifications:operate"];
const MINE = "0191e7a4-1111-7000-8000-00000000000a";
const THEIRS = "0191e7a4-2222-7000-8000-00000000000b";
const PROFILE_ID = "0191e7a4-cccc-7000-8000-000000000003";

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
    ...extra,
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

  it("compares principals as the server does, and reads the request defensively", () => {
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
