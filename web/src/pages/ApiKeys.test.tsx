import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../api/client";
import { ALL_PERMISSIONS, renderPage, whoami } from "../test/render";
import { ApiKeysPage, keyBody, validateKey } from "./ApiKeys";

vi.mock("../api/client", async (original) => ({
  ...(await original<typeof import("../api/client")>()),
  me: vi.fn(),
  listKeys: vi.fn(),
  createKey: vi.fn(),
  disableKey: vi.fn(),
}));

const mocked = vi.mocked(api);
const KEY_ID = "0191e7a4-eeee-7000-8000-000000000001";
const SECRET = "cctl_s3cr3t-shown-once";

function key(extra: Partial<api.ApiKey> = {}): api.ApiKey {
  return {
    id: KEY_ID,
    name: "ci-deployer",
    principal: "ci",
    role: "operator",
    created_by: "admin@example.com",
    created_at: new Date(Date.now() - 86_400_000).toISOString(),
    last_used_at: null,
    disabled_at: null,
    expires_at: null,
    ...extra,
  };
}

beforeEach(() => {
  vi.resetAllMocks();
  mocked.me.mockResolvedValue(whoami("admin", ALL_PERMISSIONS));
  mocked.listKeys.mockResolvedValue({ data: [key()], next_cursor: null, total: 1 });
});

describe("ApiKeysPage", () => {
  it("lists keys with their role, dates and state", async () => {
    renderPage(<ApiKeysPage />);
    const row = within(await screen.findByTestId("key-row"));
    expect(row.getByText("ci-deployer")).toBeInTheDocument();
    expect(row.getByText("ci")).toBeInTheDocument();
    expect(row.getByText("operator")).toBeInTheDocument();
    expect(row.getAllByText("never")).toHaveLength(2);
    expect(row.getByText("no")).toBeInTheDocument();
  });

  it("shows the new key's secret once, read-only, with Copy, and never again once dismissed", async () => {
    const user = userEvent.setup();
    const writeText = vi.fn().mockResolvedValue(undefined);
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    mocked.createKey.mockResolvedValue({ ...key({ id: "0191e7a4-eeee-7000-8000-000000000002", name: "new-key", role: "viewer" }), key: SECRET });
    renderPage(<ApiKeysPage />);
    await user.click(await screen.findByRole("button", { name: "Create key" }));
    const dialog = within(await screen.findByRole("dialog", { name: "Create an API key" }));
    await user.type(dialog.getByLabelText("Name"), "new-key");
    await user.selectOptions(dialog.getByLabelText("Role"), "viewer");
    await user.click(dialog.getByRole("button", { name: "Create" }));
    await waitFor(() => expect(mocked.createKey).toHaveBeenCalledWith({ name: "new-key", role: "viewer" }));

    const secret = await screen.findByLabelText("Secret of new-key (viewer)");
    expect(secret).toHaveValue(SECRET);
    expect(secret).toHaveAttribute("readonly");
    expect(screen.getByText(/It is shown this once/)).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Copy" }));
    expect(writeText).toHaveBeenCalledWith(SECRET);
    expect(await screen.findByText("Copied to the clipboard.")).toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "I have saved it" }));
    expect(screen.queryByDisplayValue(SECRET)).not.toBeInTheDocument();
    expect(document.body.textContent).not.toContain(SECRET);
  });

  it("selects the secret when the clipboard is unavailable", async () => {
    const user = userEvent.setup();
    Object.defineProperty(navigator, "clipboard", { value: undefined, configurable: true });
    mocked.createKey.mockResolvedValue({ ...key(), key: SECRET });
    renderPage(<ApiKeysPage />);
    await user.click(await screen.findByRole("button", { name: "Create key" }));
    await user.type(await screen.findByLabelText("Name"), "ci-deployer");
    await user.click(screen.getByRole("button", { name: "Create" }));
    const secret = (await screen.findByDisplayValue(SECRET)) as HTMLInputElement;
    await user.click(screen.getByRole("button", { name: "Copy" }));
    expect(await screen.findByText(/press Ctrl\+C/)).toBeInTheDocument();
    expect(document.activeElement).toBe(secret);
    expect(secret.selectionEnd! - secret.selectionStart!).toBe(SECRET.length);
  });

  it("validates the form and sends principal and expiry when given", async () => {
    expect(validateKey({ name: "", role: "viewer", principal: "", expires_days: "" }).name).toBe("Name is required");
    expect(validateKey({ name: " x", role: "viewer", principal: "", expires_days: "" }).name).toMatch(/space/);
    expect(validateKey({ name: "x", role: "viewer", principal: "", expires_days: "0" }).expires_days).toMatch(/positive/);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(keyBody({ name: "x", role: "auditor", principal: "carol", expires_days: "30" }, now)).toEqual({
      name: "x",
      role: "auditor",
      principal: "carol",
      expires_at: "2026-01-31T00:00:00Z",
    });

    const user = userEvent.setup();
    renderPage(<ApiKeysPage />);
    await user.click(await screen.findByRole("button", { name: "Create key" }));
    await user.click(await screen.findByRole("button", { name: "Create" }));
    expect(await screen.findByText("Name is required")).toBeInTheDocument();
    expect(mocked.createKey).not.toHaveBeenCalled();
  });

  it("disables a key only after confirmation, with its id alone", async () => {
    const user = userEvent.setup();
    mocked.disableKey.mockResolvedValue(key({ disabled_at: new Date().toISOString() }));
    renderPage(<ApiKeysPage />);
    await user.click(await screen.findByRole("button", { name: "Disable key ci-deployer" }));
    expect(mocked.disableKey).not.toHaveBeenCalled();
    const dialog = within(await screen.findByRole("dialog", { name: "Disable this key?" }));
    expect(dialog.getByText(/cannot be enabled again/)).toBeInTheDocument();
    await user.click(dialog.getByRole("button", { name: "Disable key" }));
    await waitFor(() => expect(mocked.disableKey).toHaveBeenCalledWith(KEY_ID));
  });

  it("shows the API's refusal to disable the last admin key", async () => {
    const user = userEvent.setup();
    mocked.disableKey.mockRejectedValue(
      new api.ApiError({ type: "x", title: "Conflict", status: 409, detail: "refusing to disable the last admin key", code: "last_admin_key" }),
    );
    renderPage(<ApiKeysPage />);
    await user.click(await screen.findByRole("button", { name: "Disable key ci-deployer" }));
    await user.click(await screen.findByRole("button", { name: "Disable key" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("last_admin_key");
  });
});
