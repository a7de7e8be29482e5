import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../api/client";
import { ALL_PERMISSIONS, renderPage, whoami } from "../test/render";
import { IssuerDetailPage, IssuersPage, validateIssuer } from "./Issuers";

vi.mock("../api/client", async (original) => ({
  ...(await original<typeof import("../api/client")>()),
  me: vi.fn(),
  listIssuers: vi.fn(),
  getIssuer: vi.fn(),
  createIssuer: vi.fn(),
  disableIssuer: vi.fn(),
  enableIssuer: vi.fn(),
}));

const mocked = vi.mocked(api);
const ROOT = "0191e7a4-bbbb-7000-8000-000000000001";
const SUB = "0191e7a4-bbbb-7000-8000-000000000002";

function issuer(id: string, name: string, extra: Partial<api.Issuer> = {}): api.Issuer {
  return {
    id,
    name,
    common_name: `${name} CA`,
    key_algorithm: "ecdsa-p384",
    is_root: true,
    serial_hex: "0a",
    not_before: new Date().toISOString(),
    not_after: new Date(Date.now() + 365 * 86_400_000).toISOString(),
    certificate_pem: `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n`,
    created_by: "admin",
    created_at: new Date().toISOString(),
    crl_shards: 0,
    ...extra,
  };
}

beforeEach(() => {
  vi.resetAllMocks();
  mocked.me.mockResolvedValue(whoami("admin", ALL_PERMISSIONS));
  mocked.listIssuers.mockResolvedValue({
    data: [issuer(ROOT, "corp-root"), issuer(SUB, "corp-sub", { is_root: false, parent_issuer_id: ROOT, key_algorithm: "ecdsa-p256" })],
    next_cursor: null,
    total: 2,
  });
});

describe("IssuersPage", () => {
  it("lists issuers as root or intermediate, a disabled one with its badge", async () => {
    mocked.listIssuers.mockResolvedValue({
      data: [issuer(ROOT, "corp-root"), issuer(SUB, "corp-sub", { is_root: false, parent_issuer_id: ROOT, disabled_at: new Date().toISOString() })],
      next_cursor: null,
      total: 2,
    });
    renderPage(<IssuersPage />);
    expect(await screen.findByRole("link", { name: "corp-root" })).toHaveAttribute("href", `/issuers/${ROOT}`);
    expect(screen.getByText("root")).toBeInTheDocument();
    expect(screen.getByText("intermediate under corp-root")).toBeInTheDocument();
    const rows = screen.getAllByRole("row");
    expect(within(rows[1] as HTMLElement).queryByText("disabled")).not.toBeInTheDocument();
    expect(within(rows[2] as HTMLElement).getByText("disabled")).toHaveClass("badge-disabled");
  });

  it("creates an intermediate under a root, after checking the fields", async () => {
    const user = userEvent.setup();
    mocked.createIssuer.mockResolvedValue(issuer("0191e7a4-bbbb-7000-8000-000000000003", "new-sub"));
    renderPage(<IssuersPage />);
    await user.click(await screen.findByRole("button", { name: "Create issuer" }));
    const form = within(await screen.findByRole("form", { name: "Create an issuer" }));
    await user.type(form.getByLabelText("Validity (days)"), "40000");
    await user.click(form.getByRole("button", { name: "Create" }));
    expect(form.getByText("Name is required")).toBeInTheDocument();
    expect(form.getByText(/from 1 to 36500/)).toBeInTheDocument();
    expect(mocked.createIssuer).not.toHaveBeenCalled();
    // Only roots can be parents.
    expect(form.getAllByRole("option", { name: /corp-/ }).map((o) => o.textContent)).toEqual(["corp-root (corp-root CA)"]);

    await user.type(form.getByLabelText("Name"), "new-sub");
    await user.type(form.getByLabelText("Common name"), "New Sub CA");
    await user.selectOptions(form.getByLabelText("Key algorithm"), "rsa-4096");
    await user.selectOptions(form.getByLabelText("Parent (optional)"), ROOT);
    await user.clear(form.getByLabelText("Validity (days)"));
    await user.type(form.getByLabelText("Validity (days)"), "365");
    await user.type(form.getByLabelText("CRL shards (optional)"), "16");
    await user.click(form.getByRole("button", { name: "Create" }));
    await waitFor(() =>
      expect(mocked.createIssuer).toHaveBeenCalledWith({
        name: "new-sub",
        common_name: "New Sub CA",
        key_algorithm: "rsa-4096",
        parent_issuer_id: ROOT,
        validity_days: 365,
        crl_shards: 16,
      }),
    );
    const draft = { name: "r", common_name: "R", key_algorithm: "ecdsa-p256" as const, parent_issuer_id: "", validity_days: "", crl_shards: "" };
    expect(validateIssuer(draft)).toEqual({});
    expect(validateIssuer({ ...draft, crl_shards: "0" })).toEqual({});
    expect(validateIssuer({ ...draft, crl_shards: "1" }).crl_shards).toMatch(/2 to 256/);
    expect(validateIssuer({ ...draft, crl_shards: "257" }).crl_shards).toMatch(/2 to 256/);
  });

  it("explains the create button to a role without issuers:write", async () => {
    mocked.me.mockResolvedValue(whoami("operator", ["certificates:read", "certificates:write", "jobs:decide", "notifications:operate"]));
    const { client } = renderPage(<IssuersPage />);
    await waitFor(() => expect(client.getQueryData(["me"])).toBeDefined());
    const button = await screen.findByRole("button", { name: "Create issuer" });
    expect(button).toBeDisabled();
    expect(button).toHaveAccessibleDescription("Only admins can create issuers (issuers:write)");
  });

  it("shows an issuer's details and PEM", async () => {
    mocked.getIssuer.mockResolvedValue(issuer(SUB, "corp-sub", { is_root: false, parent_issuer_id: ROOT }));
    renderPage(
      <Routes>
        <Route path="/issuers/:id" element={<IssuerDetailPage />} />
      </Routes>,
      { path: `/issuers/${SUB}` },
    );
    expect(await screen.findByRole("heading", { name: "corp-sub", level: 1 })).toBeInTheDocument();
    expect(await screen.findByRole("link", { name: "corp-root" })).toHaveAttribute("href", `/issuers/${ROOT}`);
    expect(screen.getByRole("link", { name: "Certificates from this issuer" })).toHaveAttribute("href", `/certificates?issuer_id=${SUB}`);
    expect(screen.getByText(/-----BEGIN CERTIFICATE-----/)).toBeInTheDocument();
    expect(mocked.getIssuer).toHaveBeenCalledWith(SUB);
    expect(screen.getByText("enabled")).toBeInTheDocument();
  });

  function renderDetail() {
    return renderPage(
      <Routes>
        <Route path="/issuers/:id" element={<IssuerDetailPage />} />
      </Routes>,
      { path: `/issuers/${ROOT}` },
    );
  }

  it("disables an issuer after confirmation, and enables it again", async () => {
    const user = userEvent.setup();
    const disabledAt = new Date().toISOString();
    mocked.getIssuer.mockResolvedValue(issuer(ROOT, "corp-root"));
    mocked.disableIssuer.mockResolvedValue(issuer(ROOT, "corp-root", { disabled_at: disabledAt }));
    mocked.enableIssuer.mockResolvedValue(issuer(ROOT, "corp-root"));
    renderDetail();
    await user.click(await screen.findByRole("button", { name: "Disable" }));
    const dialog = within(await screen.findByRole("dialog", { name: "Disable this issuer?" }));
    expect(mocked.disableIssuer).not.toHaveBeenCalled();
    await user.click(dialog.getByRole("button", { name: "Disable issuer" }));
    await waitFor(() => expect(mocked.disableIssuer).toHaveBeenCalledWith(ROOT));
    expect(await screen.findByText(/it signs no certificate/)).toBeInTheDocument();
    expect(screen.getByText("disabled")).toHaveClass("badge-disabled");

    await user.click(screen.getByRole("button", { name: "Enable" }));
    await waitFor(() => expect(mocked.enableIssuer).toHaveBeenCalledWith(ROOT));
    expect(await screen.findByText("enabled")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Disable" })).toBeInTheDocument();
  });

  it("shows no Disable button to a role without issuers:write", async () => {
    mocked.me.mockResolvedValue(whoami("operator", ["certificates:read", "certificates:write", "jobs:decide", "notifications:operate"]));
    mocked.getIssuer.mockResolvedValue(issuer(ROOT, "corp-root", { disabled_at: new Date().toISOString() }));
    const { client } = renderDetail();
    await waitFor(() => expect(client.getQueryData(["me"])).toBeDefined());
    expect(await screen.findByText("disabled")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /able/ })).not.toBeInTheDocument();
  });
});
