import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../api/client";
import { ALL_PERMISSIONS, renderPage, whoami } from "../test/render";
import { DiscoveredCertificatePage, DiscoveryPage, items, targetBody, targetDraftOf, validateTarget } from "./Discovery";

vi.mock("../api/client", async (original) => ({
  ...(await original<typeof import("../api/client")>()),
  me: vi.fn(),
  listScanTargets: vi.fn(),
  createScanTarget: vi.fn(),
  replaceScanTarget: vi.fn(),
  deleteScanTarget: vi.fn(),
  scanTargetNow: vi.fn(),
  listDiscovered: vi.fn(),
  getDiscovered: vi.fn(),
  claimDiscovered: vi.fn(),
  dismissDiscovered: vi.fn(),
}));

const mocked = vi.mocked(api);
const DMZ_ID = "0191e7a4-5555-7000-8000-000000000001";
const LAB_ID = "0191e7a4-5555-7000-8000-000000000002";
const UNMANAGED_ID = "0191e7a4-6666-7000-8000-000000000001";
const MANAGED_ID = "0191e7a4-6666-7000-8000-000000000002";
const CERT_ID = "0191e7a4-aaaa-7000-8000-000000000001";
const OPERATOR = ["certificates:read", "certificates:write", "jobs:decide", "notifications:operate"];
const DAY = 86_400_000;
const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

function target(id: string, name: string, extra: Partial<api.ScanTarget> = {}): api.ScanTarget {
  return {
    id,
    name,
    cidrs: ["10.20.0.0/24"],
    ports: [443, 8443],
    interval_seconds: 21_600,
    timeout_ms: 2000,
    concurrency: 32,
    enabled: true,
    next_scan_at: new Date(Date.now() + 3 * 3600_000).toISOString(),
    last_scan_started_at: new Date(Date.now() - 3 * 3600_000).toISOString(),
    last_scan_finished_at: new Date(Date.now() - 3 * 3600_000 + 5000).toISOString(),
    last_scan_found: 3,
    last_scan_error: null,
    created_by: "admin@example.com",
    created_at: new Date(Date.now() - 10 * DAY).toISOString(),
    updated_at: new Date(Date.now() - 10 * DAY).toISOString(),
    ...extra,
  };
}

function discovered(id: string, extra: Partial<api.DiscoveredCertificate> = {}): api.DiscoveredCertificate {
  return {
    id,
    fingerprint_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    subject: "CN=legacy.corp.example,O=Corp",
    common_name: "legacy.corp.example",
    sans: ["legacy.corp.example"],
    issuer: "CN=Old Vendor CA",
    serial_hex: "0a1b2c3d",
    not_before: new Date(Date.now() - 300 * DAY).toISOString(),
    not_after: new Date(Date.now() + 20 * DAY).toISOString(),
    expired: false,
    key_algorithm: "rsa-2048",
    self_signed: false,
    status: "unmanaged",
    first_seen_at: new Date(Date.now() - 5 * DAY).toISOString(),
    last_seen_at: new Date(Date.now() - 3600_000).toISOString(),
    ...extra,
  };
}

const dmz = target(DMZ_ID, "dmz");
const lab = target(LAB_ID, "lab", {
  cidrs: ["192.0.2.7", "2001:db8::/120"],
  ports: [443],
  enabled: false,
  last_scan_found: null,
  last_scan_started_at: null,
  last_scan_finished_at: null,
  last_scan_error: "connect: network unreachable",
});

const unmanaged = discovered(UNMANAGED_ID);
const managed = discovered(MANAGED_ID, {
  status: "managed",
  certificate_id: CERT_ID,
  common_name: "web.corp.example",
  subject: "CN=web.corp.example",
  issuer: "CN=Corp Root CA",
});
const expiredSelfSigned = discovered("0191e7a4-6666-7000-8000-000000000003", {
  status: "dismissed",
  common_name: "printer.local",
  subject: "CN=printer.local",
  issuer: "CN=printer.local",
  self_signed: true,
  expired: true,
  not_after: new Date(Date.now() - 2 * DAY).toISOString(),
});
const claimed = discovered("0191e7a4-6666-7000-8000-000000000004", {
  status: "claimed",
  common_name: "vpn.corp.example",
  subject: "CN=vpn.corp.example",
  decided_by: "op@example.com",
  decided_at: new Date(Date.now() - 2 * 3600_000).toISOString(),
  note: "network team renews it by hand",
});

function detail(c: api.DiscoveredCertificate, extra: Partial<api.DiscoveredCertificate> = {}): api.DiscoveredCertificate {
  return {
    ...c,
    endpoints: [
      {
        address: "10.20.0.17",
        port: 8443,
        server_name: "",
        target_id: DMZ_ID,
        first_seen_at: c.first_seen_at,
        last_seen_at: c.last_seen_at,
      },
      {
        address: "10.30.0.5",
        port: 443,
        server_name: "legacy.corp.example",
        target_id: "0191e7a4-5555-7000-8000-00000000dead",
        first_seen_at: c.first_seen_at,
        last_seen_at: c.last_seen_at,
      },
    ],
    certificate_pem: PEM,
    chain_pem: "-----BEGIN CERTIFICATE-----\nCHAIN\n-----END CERTIFICATE-----\n",
    ...extra,
  };
}

beforeEach(() => {
  vi.resetAllMocks();
  mocked.me.mockResolvedValue(whoami("admin", ALL_PERMISSIONS));
  mocked.listScanTargets.mockResolvedValue({ data: [dmz, lab], next_cursor: null, total: 2 });
  mocked.listDiscovered.mockResolvedValue({ data: [unmanaged, managed, expiredSelfSigned, claimed], next_cursor: null, total: 4 });
  mocked.getDiscovered.mockResolvedValue(detail(unmanaged));
});

/** Waits until the session knows the role, so an absent button is absent for the role, not for want of it. */
async function sessionLoaded(client: ReturnType<typeof renderPage>["client"]) {
  await waitFor(() => expect(client.getQueryData(["me"])).toBeDefined());
}

async function discoveredRow(name: string) {
  const rows = await screen.findAllByTestId("discovered-row");
  const row = rows.find((r) => within(r).queryByRole("link", { name }));
  if (!row) throw new Error(`no row for ${name}`);
  return within(row);
}

async function targetRow(name: string) {
  const rows = await screen.findAllByTestId("target-row");
  const row = rows.find((r) => r.querySelector("td")?.textContent?.startsWith(name));
  if (!row) throw new Error(`no row for ${name}`);
  return within(row);
}

function renderDetail(id = UNMANAGED_ID) {
  return renderPage(
    <Routes>
      <Route path="/discovery/:id" element={<DiscoveredCertificatePage />} />
    </Routes>,
    { path: `/discovery/${id}` },
  );
}

describe("DiscoveryPage: discovered certificates", () => {
  it("lists each certificate with its status badge, a link to its detail, its issuer, expiry and last sighting", async () => {
    renderPage(<DiscoveryPage />);
    const u = await discoveredRow("legacy.corp.example");
    expect(u.getByRole("link", { name: "legacy.corp.example" })).toHaveAttribute("href", `/discovery/${UNMANAGED_ID}`);
    expect(u.getByText("unmanaged")).toHaveClass("badge", "badge-unmanaged");
    expect(u.getByText("unmanaged")).toHaveAttribute("title", "nobody has decided yet; its expiry is warned about");
    expect(u.getByText("CN=Old Vendor CA")).toBeInTheDocument();
    expect(u.getByText("CN=legacy.corp.example,O=Corp")).toBeInTheDocument(); // the subject, below the CN
    expect(u.getByText("no")).toBeInTheDocument();
    expect(u.queryByText("expired")).not.toBeInTheDocument();
    expect(u.getAllByRole("time")).toHaveLength(2);

    expect((await discoveredRow("web.corp.example")).getByText("managed")).toHaveClass("badge-managed");
    expect((await discoveredRow("vpn.corp.example")).getByText("claimed")).toHaveClass("badge-claimed");
    const printer = await discoveredRow("printer.local");
    expect(printer.getByText("dismissed")).toHaveClass("badge-dismissed");
    expect(printer.getByText("expired")).toHaveClass("badge-expired");
    expect(printer.getByText("yes")).toBeInTheDocument(); // self-signed
    expect(screen.getByText("4 in all")).toBeInTheDocument();
  });

  it("offers the four statuses in the filter and sends the one chosen, with the target and the search", async () => {
    const user = userEvent.setup();
    renderPage(<DiscoveryPage />);
    await discoveredRow("legacy.corp.example");
    const status = screen.getByLabelText("Status");
    expect(within(status).getAllByRole("option").map((o) => o.getAttribute("value"))).toEqual(["", "unmanaged", "claimed", "dismissed", "managed"]);
    expect(mocked.listDiscovered).toHaveBeenLastCalledWith({
      status: undefined,
      target_id: undefined,
      expiring_before: undefined,
      q: undefined,
      cursor: undefined,
      limit: 50,
    });

    mocked.listDiscovered.mockResolvedValue({ data: [unmanaged], next_cursor: null, total: 1 });
    await user.selectOptions(status, "unmanaged");
    await waitFor(() => expect(mocked.listDiscovered).toHaveBeenLastCalledWith(expect.objectContaining({ status: "unmanaged" })));
    await waitFor(() => expect(screen.getAllByTestId("discovered-row")).toHaveLength(1));
    expect(screen.queryByRole("link", { name: "web.corp.example" })).not.toBeInTheDocument();

    await user.selectOptions(screen.getByLabelText("Scan target"), await screen.findByRole("option", { name: "dmz" }));
    await user.type(screen.getByLabelText("Expiring before"), "2027-01-31");
    await user.type(screen.getByLabelText("Search"), "Old Vendor");
    await waitFor(() =>
      expect(mocked.listDiscovered).toHaveBeenLastCalledWith({
        status: "unmanaged",
        target_id: DMZ_ID,
        expiring_before: "2027-01-31T00:00:00Z",
        q: "Old Vendor",
        cursor: undefined,
        limit: 50,
      }),
    );
  });

  it("takes the filters from the address, and ignores an unknown status", async () => {
    const { unmount } = renderPage(<DiscoveryPage />, { path: `/discovery?status=claimed&target_id=${LAB_ID}` });
    await discoveredRow("legacy.corp.example");
    expect(screen.getByLabelText("Status")).toHaveValue("claimed");
    await waitFor(() => expect(screen.getByLabelText("Scan target")).toHaveValue(LAB_ID));
    expect(mocked.listDiscovered).toHaveBeenLastCalledWith(expect.objectContaining({ status: "claimed", target_id: LAB_ID }));
    unmount();
    renderPage(<DiscoveryPage />, { path: "/discovery?status=lost" });
    await discoveredRow("legacy.corp.example");
    expect(screen.getByLabelText("Status")).toHaveValue("");
    expect(mocked.listDiscovered).toHaveBeenLastCalledWith(expect.objectContaining({ status: undefined }));
  });

  it("pages with the cursor the API gave", async () => {
    const user = userEvent.setup();
    mocked.listDiscovered.mockImplementation(async (q) =>
      q.cursor === "c2" ? { data: [claimed], next_cursor: null, total: 2 } : { data: [unmanaged], next_cursor: "c2", total: 2 },
    );
    renderPage(<DiscoveryPage />);
    await discoveredRow("legacy.corp.example");
    await user.click(screen.getByRole("button", { name: "Next" }));
    await discoveredRow("vpn.corp.example");
    expect(mocked.listDiscovered).toHaveBeenLastCalledWith(expect.objectContaining({ cursor: "c2" }));
  });

  it("shows the empty state and the API's problem", async () => {
    mocked.listDiscovered.mockResolvedValueOnce({ data: [], next_cursor: null, total: 0 });
    const { unmount } = renderPage(<DiscoveryPage />);
    expect(await screen.findByText("No discovered certificate matches these filters.")).toBeInTheDocument();
    unmount();
    mocked.listDiscovered.mockRejectedValue(
      new api.ApiError({ type: "x", title: "Bad Request", status: 400, detail: "q is longer than 256 characters", code: "invalid_query" }),
    );
    renderPage(<DiscoveryPage />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Bad Request (400): q is longer than 256 characters invalid_query");
  });
});

describe("DiscoveryPage: scan targets", () => {
  it("lists each target with its ranges, ports, schedule and last scan", async () => {
    renderPage(<DiscoveryPage />);
    const d = await targetRow("dmz");
    expect(d.getByText("10.20.0.0/24")).toBeInTheDocument();
    expect(d.getByText("443, 8443")).toBeInTheDocument();
    expect(d.getByText("6 hours")).toBeInTheDocument();
    expect(d.getByRole("link", { name: /^3 certificates found by dmz/ })).toHaveAttribute("href", `/discovery?target_id=${DMZ_ID}`);
    expect(d.getByText("none")).toBeInTheDocument(); // no error
    expect(d.getByText("in 3 hours")).toBeInTheDocument(); // next scan

    const l = await targetRow("lab");
    expect(l.getByText("disabled")).toHaveClass("badge-disabled");
    expect(l.getByText("192.0.2.7, 2001:db8::/120")).toBeInTheDocument();
    expect(l.getByText("never")).toBeInTheDocument();
    expect(l.getByText("connect: network unreachable")).toBeInTheDocument();
    expect(l.getByText("not scheduled")).toBeInTheDocument();
    const scan = l.getByRole("button", { name: "Scan lab now" });
    expect(scan).toBeDisabled();
    expect(scan).toHaveAccessibleDescription("The target is disabled: enable it first");
  });

  it("creates a target after checking it, and sends the API's defaults", async () => {
    const user = userEvent.setup();
    mocked.createScanTarget.mockResolvedValue(target("0191e7a4-5555-7000-8000-000000000003", "office"));
    renderPage(<DiscoveryPage />);
    await user.click(await screen.findByRole("button", { name: "Create scan target" }));
    const form = within(await screen.findByRole("form", { name: "Create a scan target" }));
    expect(form.getByLabelText("Ports")).toHaveValue("443");
    expect(form.getByLabelText("Interval (seconds)")).toHaveValue(3600);
    expect(form.getByLabelText("Timeout (ms)")).toHaveValue(2000);
    expect(form.getByLabelText("Concurrency")).toHaveValue(32);
    expect(form.getByRole("checkbox", { name: "Enabled" })).toBeChecked();

    await user.type(form.getByLabelText("Address ranges"), "10.0.0.0/28, intranet.corp");
    await user.clear(form.getByLabelText("Ports"));
    await user.type(form.getByLabelText("Ports"), "443, 70000");
    await user.clear(form.getByLabelText("Concurrency"));
    await user.type(form.getByLabelText("Concurrency"), "300");
    await user.click(form.getByRole("button", { name: "Create" }));
    expect(form.getByText("Name is required")).toBeInTheDocument();
    expect(form.getByText("“intranet.corp” is not an IP address or CIDR block")).toBeInTheDocument();
    expect(form.getByText(/“70000” is not a port/)).toBeInTheDocument();
    expect(form.getByText("Concurrency must be a whole number from 1 to 256")).toBeInTheDocument();
    expect(form.getByLabelText("Name")).toHaveAttribute("aria-invalid", "true");
    expect(mocked.createScanTarget).not.toHaveBeenCalled();

    await user.type(form.getByLabelText("Name"), "office");
    await user.clear(form.getByLabelText("Address ranges"));
    await user.type(form.getByLabelText("Address ranges"), "10.0.0.0/28{Enter}192.0.2.7, 2001:db8::/124");
    await user.clear(form.getByLabelText("Ports"));
    await user.type(form.getByLabelText("Ports"), "443, 8443");
    await user.type(form.getByLabelText("Server name (SNI, optional)"), "intranet.corp.example");
    await user.clear(form.getByLabelText("Interval (seconds)"));
    await user.type(form.getByLabelText("Interval (seconds)"), "86400");
    expect(form.getByText("Between scans: every 1 day.")).toBeInTheDocument();
    await user.clear(form.getByLabelText("Concurrency"));
    await user.type(form.getByLabelText("Concurrency"), "64");
    await user.click(form.getByRole("button", { name: "Create" }));
    await waitFor(() => expect(mocked.createScanTarget).toHaveBeenCalledTimes(1));
    expect(mocked.createScanTarget).toHaveBeenCalledWith({
      name: "office",
      cidrs: ["10.0.0.0/28", "192.0.2.7", "2001:db8::/124"],
      ports: [443, 8443],
      server_name: "intranet.corp.example",
      interval_seconds: 86_400,
      timeout_ms: 2000,
      concurrency: 64,
      enabled: true,
    });
    await waitFor(() => expect(screen.queryByRole("form", { name: "Create a scan target" })).not.toBeInTheDocument());
    expect(mocked.listScanTargets).toHaveBeenCalledTimes(2);
  });

  it("shows the API's 400 in the form, and keeps it open", async () => {
    const user = userEvent.setup();
    mocked.createScanTarget.mockRejectedValue(
      new api.ApiError({
        type: "x",
        title: "Bad Request",
        status: 400,
        detail: "the ranges cover 4096 addresses; a scan target may cover at most 1024 (split it into several targets)",
        code: "invalid_request",
      }),
    );
    renderPage(<DiscoveryPage />);
    await user.click(await screen.findByRole("button", { name: "Create scan target" }));
    const form = within(await screen.findByRole("form", { name: "Create a scan target" }));
    await user.type(form.getByLabelText("Name"), "too-wide");
    await user.type(form.getByLabelText("Address ranges"), "10.0.0.0/20");
    await user.click(form.getByRole("button", { name: "Create" }));
    expect(await form.findByRole("alert")).toHaveTextContent(
      "Bad Request (400): the ranges cover 4096 addresses; a scan target may cover at most 1024 (split it into several targets) invalid_request",
    );
    expect(mocked.createScanTarget).toHaveBeenCalledWith(expect.objectContaining({ name: "too-wide", cidrs: ["10.0.0.0/20"], ports: [443] }));
    expect(screen.getByRole("form", { name: "Create a scan target" })).toBeInTheDocument();
  });

  it("edits a target with a whole replacement, prefilled, and can drop its SNI and disable it", async () => {
    const user = userEvent.setup();
    mocked.replaceScanTarget.mockResolvedValue(dmz);
    mocked.listScanTargets.mockResolvedValue({ data: [{ ...dmz, server_name: "dmz.corp.example" }], next_cursor: null, total: 1 });
    renderPage(<DiscoveryPage />);
    await user.click((await targetRow("dmz")).getByRole("button", { name: "Edit scan target dmz" }));
    const form = within(await screen.findByRole("form", { name: "Edit the scan target dmz" }));
    expect(form.getByLabelText("Name")).toHaveValue("dmz");
    expect(form.getByLabelText("Address ranges")).toHaveValue("10.20.0.0/24");
    expect(form.getByLabelText("Ports")).toHaveValue("443, 8443");
    expect(form.getByLabelText("Server name (SNI, optional)")).toHaveValue("dmz.corp.example");
    expect(form.getByLabelText("Interval (seconds)")).toHaveValue(21_600);
    await user.clear(form.getByLabelText("Server name (SNI, optional)"));
    await user.click(form.getByRole("checkbox", { name: "Enabled" }));
    await user.click(form.getByRole("button", { name: "Save" }));
    await waitFor(() =>
      expect(mocked.replaceScanTarget).toHaveBeenCalledWith(DMZ_ID, {
        name: "dmz",
        cidrs: ["10.20.0.0/24"],
        ports: [443, 8443],
        interval_seconds: 21_600,
        timeout_ms: 2000,
        concurrency: 32,
        enabled: false,
      }),
    );
  });

  it("deletes after confirmation, and scans a target now", async () => {
    const user = userEvent.setup();
    mocked.deleteScanTarget.mockResolvedValue(undefined);
    mocked.scanTargetNow.mockResolvedValue({ ...dmz, next_scan_at: new Date().toISOString() });
    renderPage(<DiscoveryPage />);
    await user.click((await targetRow("dmz")).getByRole("button", { name: "Scan dmz now" }));
    expect(await screen.findByRole("status")).toHaveTextContent("A scan of dmz is due now");
    expect(mocked.scanTargetNow).toHaveBeenCalledWith(DMZ_ID);

    await user.click((await targetRow("dmz")).getByRole("button", { name: "Delete scan target dmz" }));
    const dialog = within(await screen.findByRole("dialog", { name: "Delete this scan target?" }));
    expect(dialog.getByText(/stay in the list below/)).toBeInTheDocument();
    expect(mocked.deleteScanTarget).not.toHaveBeenCalled();
    await user.click(dialog.getByRole("button", { name: "Delete target" }));
    await waitFor(() => expect(mocked.deleteScanTarget).toHaveBeenCalledWith(DMZ_ID));
    await waitFor(() => expect(screen.queryByRole("dialog", { name: "Delete this scan target?" })).not.toBeInTheDocument());
  });

  it("explains to an operator why it cannot change or scan targets (discovery:manage)", async () => {
    mocked.me.mockResolvedValue(whoami("operator", OPERATOR));
    const { client } = renderPage(<DiscoveryPage />);
    await sessionLoaded(client);
    const create = await screen.findByRole("button", { name: "Create scan target" });
    await waitFor(() => expect(create).toBeDisabled());
    expect(create).toHaveAccessibleDescription("Only admins can change scan targets (discovery:manage)");
    const d = await targetRow("dmz");
    for (const name of ["Scan dmz now", "Edit scan target dmz", "Delete scan target dmz"]) {
      expect(d.getByRole("button", { name })).toBeDisabled();
      expect(d.getByRole("button", { name })).toHaveAttribute("title", "Only admins can change scan targets (discovery:manage)");
    }
    // Reading what was found is every reader's.
    expect(await discoveredRow("legacy.corp.example")).toBeDefined();
  });
});

describe("DiscoveredCertificatePage", () => {
  it("shows every field, where it was seen and its PEMs", async () => {
    renderDetail();
    expect(await screen.findByRole("heading", { name: "legacy.corp.example", level: 1 })).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Discovery" })).toHaveAttribute("href", "/discovery");
    expect(screen.getByText("unmanaged")).toHaveClass("badge-unmanaged");
    expect(screen.getByText("CN=legacy.corp.example,O=Corp")).toBeInTheDocument();
    expect(screen.getByText("CN=Old Vendor CA")).toBeInTheDocument();
    expect(screen.getByText("0a1b2c3d")).toHaveClass("mono");
    expect(screen.getByText("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")).toBeInTheDocument();
    expect(screen.getByText("rsa-2048")).toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "Open the inventory certificate" })).not.toBeInTheDocument();

    const endpoints = screen.getAllByTestId("endpoint-row").map((r) => within(r));
    expect(endpoints).toHaveLength(2);
    expect(endpoints[0]!.getByText("10.20.0.17")).toBeInTheDocument();
    expect(endpoints[0]!.getByText("8443")).toBeInTheDocument();
    expect(endpoints[0]!.getByText("none")).toBeInTheDocument(); // no SNI
    expect(await endpoints[0]!.findByText("dmz")).toBeInTheDocument();
    expect(endpoints[1]!.getByText("legacy.corp.example")).toBeInTheDocument();
    expect(endpoints[1]!.getByText("a deleted target")).toBeInTheDocument();

    const pem = screen.getByLabelText("Certificate (PEM)");
    expect(pem).toHaveValue(PEM);
    expect(pem).toHaveAttribute("readonly");
    expect(screen.getByLabelText("Chain sent after it (PEM)")).toHaveAttribute("readonly");
    expect(screen.getByRole("link", { name: "Decisions about this certificate" })).toHaveAttribute(
      "href",
      `/audit?resource_type=discovered_certificate&resource_id=${UNMANAGED_ID}`,
    );
  });

  it("claims with the note typed, and dismisses without one", async () => {
    const user = userEvent.setup();
    signedInAsOperator();
    mocked.claimDiscovered.mockResolvedValue({ ...unmanaged, status: "claimed", decided_by: "op@example.com", decided_at: new Date().toISOString() });
    mocked.dismissDiscovered.mockResolvedValue({ ...unmanaged, status: "dismissed" });
    renderDetail();
    const decide = within(await screen.findByRole("group", { name: "Decide" }));
    await user.type(decide.getByLabelText("Note (optional)"), "  owned by the network team  ");
    await user.click(decide.getByRole("button", { name: "Claim" }));
    await waitFor(() => expect(mocked.claimDiscovered).toHaveBeenCalledWith(UNMANAGED_ID, "owned by the network team"));
    expect(await decide.findByRole("status")).toHaveTextContent("Claimed: its expiry is warned about.");
    expect(decide.getByLabelText("Note (optional)")).toHaveValue("");
    expect(mocked.getDiscovered).toHaveBeenCalledTimes(2); // read again: the answer has no endpoints

    await user.click(decide.getByRole("button", { name: "Dismiss" }));
    await waitFor(() => expect(mocked.dismissDiscovered).toHaveBeenCalledWith(UNMANAGED_ID, undefined));
    expect(await decide.findByRole("status")).toHaveTextContent("Dismissed: no expiry warning will be sent.");
  });

  it("shows the decision, who made it and when, and the API's refusal", async () => {
    const user = userEvent.setup();
    mocked.getDiscovered.mockResolvedValue(detail(claimed));
    mocked.dismissDiscovered.mockRejectedValue(
      new api.ApiError({
        type: "x",
        title: "Conflict",
        status: 409,
        detail: "certctl issued this certificate: it is managed in the inventory, not claimed or dismissed",
        code: "certificate_managed",
      }),
    );
    renderDetail(claimed.id);
    expect(await screen.findByText("claimed")).toHaveClass("badge-claimed");
    const decidedAt = screen.getByText("Decided").nextElementSibling as HTMLElement;
    expect(decidedAt).toHaveTextContent(/^op@example\.com, 2 hours ago$/);
    expect(screen.getByText("network team renews it by hand")).toBeInTheDocument();
    const decide = within(screen.getByRole("group", { name: "Decide" }));
    expect(decide.getByText(/Deciding again replaces the decision/)).toBeInTheDocument();
    await user.click(decide.getByRole("button", { name: "Dismiss" }));
    expect(await decide.findByRole("alert")).toHaveTextContent("Conflict (409)");
    expect(decide.getByRole("alert")).toHaveTextContent("certificate_managed");
  });

  it("links a managed certificate to the inventory and offers no claim or dismiss", async () => {
    mocked.getDiscovered.mockResolvedValue(detail(managed));
    const { client } = renderDetail(MANAGED_ID);
    await sessionLoaded(client);
    expect(await screen.findByRole("heading", { name: "web.corp.example", level: 1 })).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Open the inventory certificate" })).toHaveAttribute("href", `/certificates/${CERT_ID}`);
    expect(screen.getByText(/certctl issued this certificate/)).toBeInTheDocument();
    expect(screen.queryByRole("group", { name: "Decide" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Claim" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Dismiss" })).not.toBeInTheDocument();
  });

  it("offers a viewer no claim or dismiss", async () => {
    mocked.me.mockResolvedValue(whoami("viewer", ["certificates:read"]));
    const { client } = renderDetail();
    await sessionLoaded(client);
    expect(await screen.findByRole("heading", { name: "legacy.corp.example", level: 1 })).toBeInTheDocument();
    expect(screen.getByLabelText("Certificate (PEM)")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Claim" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Dismiss" })).not.toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "Decisions about this certificate" })).not.toBeInTheDocument();
  });

  it("shows a 404 from the API as a problem", async () => {
    mocked.getDiscovered.mockRejectedValue(new api.ApiError({ type: "x", title: "Not Found", status: 404, detail: "discovered certificate not found", code: "not_found" }));
    renderDetail();
    expect(await screen.findByRole("alert")).toHaveTextContent("Not Found (404): discovered certificate not found not_found");
    expect(screen.getByRole("link", { name: "All discovered certificates" })).toHaveAttribute("href", "/discovery");
  });
});

describe("scan target helpers", () => {
  it("reads ranges and ports one per line or comma-separated", () => {
    expect(items(" 10.0.0.0/24,\n\n192.0.2.7 ,2001:db8::/120 ")).toEqual(["10.0.0.0/24", "192.0.2.7", "2001:db8::/120"]);
  });

  it("checks the API's rules and leaves out an empty SNI", () => {
    const d = { ...targetDraftOf(), name: "t", cidrs: "10.0.0.0/24" };
    expect(validateTarget(d)).toEqual({});
    expect(validateTarget({ ...d, interval_seconds: "9" }).interval_seconds).toMatch(/at least 10/);
    expect(validateTarget({ ...d, timeout_ms: "60001" }).timeout_ms).toMatch(/100 to 60000/);
    expect(validateTarget({ ...d, ports: Array.from({ length: 33 }, (_, i) => i + 1).join(",") }).ports).toBe("At most 32 ports");
    expect(validateTarget({ ...d, cidrs: "" }).cidrs).toMatch(/At least one/);
    expect(validateTarget({ ...d, server_name: "https://x.example" }).server_name).toMatch(/DNS name/);
    expect(targetBody(d)).toEqual({ name: "t", cidrs: ["10.0.0.0/24"], ports: [443], interval_seconds: 3600, timeout_ms: 2000, concurrency: 32, enabled: true });
  });
});

function signedInAsOperator() {
  mocked.me.mockResolvedValue(whoami("operator", OPERATOR));
}
