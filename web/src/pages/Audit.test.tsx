import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../api/client";
import { renderPage, whoami } from "../test/render";
import { AuditPage } from "./Audit";

vi.mock("../api/client", async (original) => ({
  ...(await original<typeof import("../api/client")>()),
  me: vi.fn(),
  listAudit: vi.fn(),
}));

const mocked = vi.mocked(api);
const CERT_ID = "0191e7a4-aaaa-7000-8000-000000000001";

function event(extra: Partial<api.AuditEvent> = {}): api.AuditEvent {
  return {
    id: "0191e7a4-5555-7000-8000-000000000001",
    actor: "alice",
    action: "certificate.revoke",
    resource_type: "certificate",
    resource_id: CERT_ID,
    outcome: "success",
    details: { reason: "keyCompromise", bulk: false },
    request_id: "req-1",
    key_id: null,
    protocol: "api",
    created_at: new Date(Date.now() - 60_000).toISOString(),
    ...extra,
  };
}

beforeEach(() => {
  vi.resetAllMocks();
  mocked.me.mockResolvedValue(whoami("auditor", ["audit:read"]));
  mocked.listAudit.mockResolvedValue({ data: [event()], next_cursor: null, total: 1 });
});

describe("AuditPage", () => {
  it("shows time, actor, action, resource, outcome and the details as JSON in a <details>", async () => {
    renderPage(<AuditPage />);
    const row = within(await screen.findByTestId("audit-row"));
    expect(row.getByRole("time")).toHaveAttribute("title", expect.stringMatching(/UTC$/));
    expect(row.getByText("alice")).toBeInTheDocument();
    expect(row.getByText("certificate.revoke")).toBeInTheDocument();
    expect(row.getByText(CERT_ID)).toBeInTheDocument();
    expect(row.getByText("success")).toHaveClass("badge", "badge-success");
    const details = row.getByText("Details").closest("details") as HTMLDetailsElement;
    expect(details.open).toBe(false);
    expect(details.querySelector("pre")?.textContent).toBe(JSON.stringify({ reason: "keyCompromise", bulk: false }, null, 2));
  });

  it("filters by exact values, starting from the address, and pages with the cursor", async () => {
    const user = userEvent.setup();
    mocked.listAudit.mockImplementation(async (q) =>
      q.cursor ? { data: [event({ id: "x2", actor: "page-two" })], next_cursor: null, total: 2 } : { data: [event()], next_cursor: "n2", total: 2 },
    );
    renderPage(<AuditPage />, { path: `/audit?resource_id=${CERT_ID}` });
    await screen.findByTestId("audit-row");
    expect(mocked.listAudit).toHaveBeenCalledWith({
      actor: undefined,
      action: undefined,
      resource_type: undefined,
      resource_id: CERT_ID,
      since: undefined,
      until: undefined,
      cursor: undefined,
      limit: 50,
    });
    await user.type(screen.getByLabelText("Action"), "certificate.revoke");
    await waitFor(() => expect(mocked.listAudit).toHaveBeenLastCalledWith(expect.objectContaining({ action: "certificate.revoke", resource_id: CERT_ID })));
    await user.click(screen.getByRole("button", { name: "Next" }));
    expect(await screen.findByText("page-two")).toBeInTheDocument();
    expect(mocked.listAudit).toHaveBeenLastCalledWith(expect.objectContaining({ cursor: "n2", action: "certificate.revoke" }));
    // A time window: whole UTC days, from inclusive, before exclusive.
    await user.type(screen.getByLabelText("From (UTC day)"), "2026-12-01");
    await user.type(screen.getByLabelText("Before (UTC day)"), "2026-12-05");
    await waitFor(() =>
      expect(mocked.listAudit).toHaveBeenLastCalledWith(
        expect.objectContaining({ since: "2026-12-01T00:00:00Z", until: "2026-12-05T00:00:00Z", action: "certificate.revoke" }),
      ),
    );
  });

  it("shows the empty state, and a 403 as a problem", async () => {
    mocked.listAudit.mockResolvedValueOnce({ data: [], next_cursor: null, total: 0 });
    const { unmount } = renderPage(<AuditPage />);
    expect(await screen.findByText("No audit event matches.")).toBeInTheDocument();
    unmount();
    mocked.listAudit.mockRejectedValue(new api.ApiError({ type: "x", title: "Forbidden", status: 403, detail: "role viewer lacks audit:read", code: "forbidden" }));
    renderPage(<AuditPage />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Forbidden (403): role viewer lacks audit:read");
  });
});
