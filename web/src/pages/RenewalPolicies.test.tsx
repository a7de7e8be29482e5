import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../api/client";
import { ALL_PERMISSIONS, renderPage, whoami } from "../test/render";
import { RenewalPoliciesPage, draftOf, percentText, policyBody, policyWindow, validatePolicy } from "./RenewalPolicies";

vi.mock("../api/client", async (original) => ({
  ...(await original<typeof import("../api/client")>()),
  me: vi.fn(),
  listRenewalPolicies: vi.fn(),
  createRenewalPolicy: vi.fn(),
  replaceRenewalPolicy: vi.fn(),
  deleteRenewalPolicy: vi.fn(),
  listChannels: vi.fn(),
}));

const mocked = vi.mocked(api);
const BUILT_IN_ID = "0191e7a4-eeee-7000-8000-000000000001";
const MONTHLY_ID = "0191e7a4-eeee-7000-8000-000000000002";
const HOOK_ID = "0191e7a4-ffff-7000-8000-000000000001";
const MAIL_ID = "0191e7a4-ffff-7000-8000-000000000002";
const OPERATOR = ["certificates:read", "certificates:write", "jobs:decide", "notifications:operate"];

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

function channel(id: string, name: string, kind: api.ChannelKind): api.Channel {
  return {
    id,
    name,
    kind,
    config: {},
    secrets_set: [],
    event_types: ["expiration_warning", "renewal_failed"],
    enabled: true,
    created_by: "admin",
    created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
  };
}

const builtIn = policy(BUILT_IN_ID, "default", { built_in: true });
const monthly = policy(MONTHLY_ID, "monthly", {
  renew_at_fraction: null,
  renew_before_seconds: 30 * 86_400,
  rotate_key: true,
  max_attempts: 3,
  retry_interval_seconds: 7200,
  warning_days: [14, 7, 1],
  channel_ids: [HOOK_ID],
});

beforeEach(() => {
  vi.resetAllMocks();
  mocked.me.mockResolvedValue(whoami("admin", ALL_PERMISSIONS));
  mocked.listRenewalPolicies.mockResolvedValue({ data: [builtIn, monthly], next_cursor: null, total: 2 });
  mocked.listChannels.mockResolvedValue({ data: [channel(HOOK_ID, "ops-hook", "webhook"), channel(MAIL_ID, "ops-mail", "email")], next_cursor: null, total: 2 });
});

const row = async (name: string) =>
  within((await screen.findAllByTestId("policy-row")).find((r) => r.firstElementChild?.textContent?.startsWith(name)) as HTMLElement);

describe("RenewalPoliciesPage", () => {
  it("lists the policies with their window, retries, warnings and channels in words", async () => {
    renderPage(<RenewalPoliciesPage />);
    const def = await row("default");
    expect(def.getByText("built-in")).toBeInTheDocument();
    expect(def.getByText("at 67% of the lifetime")).toBeInTheDocument();
    expect(def.getByText("5 attempts, 1 hour apart")).toBeInTheDocument();
    expect(def.getByText("worker default")).toBeInTheDocument();
    expect(def.getByText("every subscribed channel")).toBeInTheDocument();

    const m = await row("monthly");
    expect(m.queryByText("built-in")).not.toBeInTheDocument();
    expect(m.getByText("30d before expiry")).toBeInTheDocument();
    expect(m.getAllByText("yes")).toHaveLength(2); // automatic, new key
    expect(m.getByText("3 attempts, 2 hours apart")).toBeInTheDocument();
    expect(m.getByText("14, 7, 1 days before expiry")).toBeInTheDocument();
    expect(await m.findByText("ops-hook")).toBeInTheDocument();
  });

  it("keeps the built-in policy from being deleted, and says why", async () => {
    renderPage(<RenewalPoliciesPage />);
    const def = await row("default");
    const del = def.getByRole("button", { name: "Delete policy default" });
    expect(del).toBeDisabled();
    expect(del).toHaveAccessibleDescription("The built-in policy can be edited, not deleted");
    expect(screen.getByText(/The built-in policy can be edited, not deleted\./)).toBeVisible();
    expect(def.getByRole("button", { name: "Edit policy default" })).toBeEnabled();
    expect((await row("monthly")).getByRole("button", { name: "Delete policy monthly" })).toBeEnabled();
  });

  it("creates a policy after checking it: a share of the lifetime, a new key, retries, warnings and channels", async () => {
    const user = userEvent.setup();
    mocked.createRenewalPolicy.mockResolvedValue(policy("0191e7a4-eeee-7000-8000-000000000003", "quarterly"));
    renderPage(<RenewalPoliciesPage />);
    await user.click(await screen.findByRole("button", { name: "Create policy" }));
    const form = within(await screen.findByRole("form", { name: "Create a renewal policy" }));
    // The API's defaults: 5 attempts an hour apart, automatic, same key.
    expect(form.getByLabelText("Attempts")).toHaveValue(5);
    expect(form.getByLabelText("Retry interval")).toHaveValue(1);
    expect(form.getByLabelText("Retry interval unit")).toHaveValue("hours");
    expect(form.getByRole("checkbox", { name: "Renew automatically" })).toBeChecked();
    expect(form.getByRole("checkbox", { name: "New key on each renewal" })).not.toBeChecked();

    await user.clear(form.getByLabelText("Attempts"));
    await user.type(form.getByLabelText("Attempts"), "101");
    await user.type(form.getByLabelText("Expiry warnings (optional)"), "14, seven");
    await user.click(form.getByRole("radio", { name: "A share of the lifetime" }));
    await user.clear(form.getByLabelText("Share of the lifetime (%)"));
    await user.type(form.getByLabelText("Share of the lifetime (%)"), "100");
    await user.click(form.getByRole("button", { name: "Create" }));
    expect(form.getByText("Name is required")).toBeInTheDocument();
    expect(form.getByText("Attempts must be a whole number from 1 to 100")).toBeInTheDocument();
    expect(form.getByText(/whole numbers of days from 0 to 3650/)).toBeInTheDocument();
    expect(form.getByText("The share must be a number between 0 and 100, both excluded")).toBeInTheDocument();
    expect(form.getByLabelText("Name")).toHaveAttribute("aria-invalid", "true");
    expect(mocked.createRenewalPolicy).not.toHaveBeenCalled();

    await user.type(form.getByLabelText("Name"), "quarterly");
    await user.clear(form.getByLabelText("Share of the lifetime (%)"));
    await user.type(form.getByLabelText("Share of the lifetime (%)"), "75");
    await user.click(form.getByRole("checkbox", { name: "New key on each renewal" }));
    await user.clear(form.getByLabelText("Attempts"));
    await user.type(form.getByLabelText("Attempts"), "3");
    await user.clear(form.getByLabelText("Retry interval"));
    await user.type(form.getByLabelText("Retry interval"), "30");
    await user.selectOptions(form.getByLabelText("Retry interval unit"), "minutes");
    await user.clear(form.getByLabelText("Expiry warnings (optional)"));
    await user.type(form.getByLabelText("Expiry warnings (optional)"), "14, 7 ,1");
    await user.click(form.getByRole("checkbox", { name: "ops-mail" }));
    await user.click(form.getByRole("button", { name: "Create" }));
    await waitFor(() => expect(mocked.createRenewalPolicy).toHaveBeenCalledTimes(1));
    expect(mocked.createRenewalPolicy).toHaveBeenCalledWith({
      name: "quarterly",
      auto_renew: true,
      rotate_key: true,
      max_attempts: 3,
      retry_interval_seconds: 1800,
      renew_at_fraction: 0.75,
      warning_days: [14, 7, 1],
      channel_ids: [MAIL_ID],
    });
    await waitFor(() => expect(screen.queryByRole("form", { name: "Create a renewal policy" })).not.toBeInTheDocument());
    expect(mocked.listRenewalPolicies).toHaveBeenCalledTimes(2);
  });

  it("creates a policy with a time before expiry, in days or hours", async () => {
    const user = userEvent.setup();
    mocked.createRenewalPolicy.mockResolvedValue(policy("0191e7a4-eeee-7000-8000-000000000004", "short"));
    renderPage(<RenewalPoliciesPage />);
    await user.click(await screen.findByRole("button", { name: "Create policy" }));
    const form = within(await screen.findByRole("form", { name: "Create a renewal policy" }));
    await user.type(form.getByLabelText("Name"), "short");
    expect(form.getByLabelText("Time before expiry")).toHaveValue(30);
    expect(form.getByLabelText("Time unit")).toHaveValue("days");
    await user.clear(form.getByLabelText("Time before expiry"));
    await user.type(form.getByLabelText("Time before expiry"), "36");
    await user.selectOptions(form.getByLabelText("Time unit"), "hours");
    await user.click(form.getByRole("checkbox", { name: "Renew automatically" }));
    await user.click(form.getByRole("button", { name: "Create" }));
    await waitFor(() =>
      expect(mocked.createRenewalPolicy).toHaveBeenCalledWith({
        name: "short",
        auto_renew: false,
        rotate_key: false,
        max_attempts: 5,
        retry_interval_seconds: 3600,
        renew_before_seconds: 36 * 3600,
      }),
    );
  });

  it("shows the API's refusal in the form", async () => {
    const user = userEvent.setup();
    mocked.createRenewalPolicy.mockRejectedValue(
      new api.ApiError({ type: "x", title: "Conflict", status: 409, detail: "a policy named monthly exists", code: "already_exists" }),
    );
    renderPage(<RenewalPoliciesPage />);
    await user.click(await screen.findByRole("button", { name: "Create policy" }));
    const form = within(await screen.findByRole("form", { name: "Create a renewal policy" }));
    await user.type(form.getByLabelText("Name"), "monthly");
    await user.click(form.getByRole("button", { name: "Create" }));
    expect(await form.findByRole("alert")).toHaveTextContent("Conflict (409): a policy named monthly exists already_exists");
  });

  it("edits a policy with a whole replacement, keeping the exact fraction left as shown", async () => {
    const user = userEvent.setup();
    mocked.replaceRenewalPolicy.mockResolvedValue(builtIn);
    renderPage(<RenewalPoliciesPage />);
    await user.click((await row("default")).getByRole("button", { name: "Edit policy default" }));
    const form = within(await screen.findByRole("form", { name: "Edit the renewal policy default" }));
    expect(form.getByLabelText("Name")).toHaveValue("default");
    expect(form.getByRole("radio", { name: "A share of the lifetime" })).toBeChecked();
    expect(form.getByLabelText("Share of the lifetime (%)")).toHaveValue(66.67);
    await user.clear(form.getByLabelText("Attempts"));
    await user.type(form.getByLabelText("Attempts"), "8");
    await user.click(form.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(mocked.replaceRenewalPolicy).toHaveBeenCalledTimes(1));
    expect(mocked.replaceRenewalPolicy).toHaveBeenCalledWith(BUILT_IN_ID, {
      name: "default",
      auto_renew: true,
      rotate_key: false,
      max_attempts: 8,
      retry_interval_seconds: 3600,
      renew_at_fraction: 2 / 3,
    });
  });

  it("prefills an edit with the policy's window, warnings and channels", async () => {
    const user = userEvent.setup();
    mocked.replaceRenewalPolicy.mockResolvedValue(monthly);
    renderPage(<RenewalPoliciesPage />);
    await user.click((await row("monthly")).getByRole("button", { name: "Edit policy monthly" }));
    const form = within(await screen.findByRole("form", { name: "Edit the renewal policy monthly" }));
    expect(form.getByLabelText("Time before expiry")).toHaveValue(30);
    expect(form.getByLabelText("Time unit")).toHaveValue("days");
    expect(form.getByLabelText("Retry interval")).toHaveValue(2);
    expect(form.getByLabelText("Expiry warnings (optional)")).toHaveValue("14, 7, 1");
    expect(form.getByRole("checkbox", { name: "ops-hook" })).toBeChecked();
    await user.click(form.getByRole("checkbox", { name: "ops-hook" }));
    await user.click(form.getByRole("button", { name: "Save" }));
    await waitFor(() =>
      expect(mocked.replaceRenewalPolicy).toHaveBeenCalledWith(MONTHLY_ID, {
        name: "monthly",
        auto_renew: true,
        rotate_key: true,
        max_attempts: 3,
        retry_interval_seconds: 7200,
        renew_before_seconds: 30 * 86_400,
        warning_days: [14, 7, 1],
      }),
    );
  });

  it("deletes after confirmation, and shows a policy still in use as the API's problem", async () => {
    const user = userEvent.setup();
    mocked.deleteRenewalPolicy.mockRejectedValueOnce(
      new api.ApiError({ type: "x", title: "Conflict", status: 409, detail: "profile corp-web follows it", code: "policy_in_use" }),
    );
    mocked.deleteRenewalPolicy.mockResolvedValueOnce(undefined);
    renderPage(<RenewalPoliciesPage />);
    await user.click((await row("monthly")).getByRole("button", { name: "Delete policy monthly" }));
    const dialog = within(await screen.findByRole("dialog", { name: "Delete this renewal policy?" }));
    expect(mocked.deleteRenewalPolicy).not.toHaveBeenCalled();
    await user.click(dialog.getByRole("button", { name: "Delete policy" }));
    expect(await dialog.findByRole("alert")).toHaveTextContent("Conflict (409): profile corp-web follows it policy_in_use");
    await user.click(dialog.getByRole("button", { name: "Delete policy" }));
    await waitFor(() => expect(mocked.deleteRenewalPolicy).toHaveBeenCalledTimes(2));
    expect(mocked.deleteRenewalPolicy).toHaveBeenLastCalledWith(MONTHLY_ID);
    await waitFor(() => expect(screen.queryByRole("dialog", { name: "Delete this renewal policy?" })).not.toBeInTheDocument());
  });

  it("explains the buttons to a role without profiles:write", async () => {
    mocked.me.mockResolvedValue(whoami("operator", OPERATOR));
    const { client } = renderPage(<RenewalPoliciesPage />);
    await waitFor(() => expect(client.getQueryData(["me"])).toBeDefined());
    const create = await screen.findByRole("button", { name: "Create policy" });
    expect(create).toBeDisabled();
    expect(create).toHaveAccessibleDescription("Only admins can change renewal policies (profiles:write)");
    const m = await row("monthly");
    expect(m.getByRole("button", { name: "Edit policy monthly" })).toBeDisabled();
    expect(m.getByRole("button", { name: "Delete policy monthly" })).toBeDisabled();
  });

  it("shows the empty state and the API's problem", async () => {
    mocked.listRenewalPolicies.mockResolvedValueOnce({ data: [], next_cursor: null, total: 0 });
    const { unmount } = renderPage(<RenewalPoliciesPage />);
    expect(await screen.findByText("No renewal policy.")).toBeInTheDocument();
    unmount();
    mocked.listRenewalPolicies.mockRejectedValue(new api.ApiError({ type: "x", title: "Forbidden", status: 403, detail: "role auditor lacks certificates:read", code: "forbidden" }));
    renderPage(<RenewalPoliciesPage />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Forbidden (403): role auditor lacks certificates:read");
  });
});

describe("policy helpers", () => {
  it("puts windows in words", () => {
    expect(policyWindow({ renew_before_seconds: 30 * 86_400 })).toBe("30d before expiry");
    expect(policyWindow({ renew_before_seconds: 36 * 3600 })).toBe("36h before expiry");
    expect(policyWindow({ renew_at_fraction: 2 / 3 })).toBe("at 67% of the lifetime");
    expect(percentText(0.5)).toBe("50%");
    expect(percentText(0.001)).toBe("0.1%");
  });

  it("checks the API's rules and sends exactly one window", () => {
    const d = { ...draftOf(), name: "p" };
    expect(validatePolicy(d)).toEqual({});
    expect(validatePolicy({ ...d, retry_amount: "8", retry_unit: "days" }).retry_amount).toMatch(/1 week/);
    expect(validatePolicy({ ...d, warning_days: "1,2,3,4,5,6,7,8,9,10,11" }).warning_days).toBe("At most 10 warnings");
    expect(validatePolicy({ ...d, window: "fraction", percent: "0" }).percent).toMatch(/between 0 and 100/);
    const body = policyBody({ ...d, window: "fraction", percent: "50" });
    expect(body.renew_at_fraction).toBe(0.5);
    expect(body).not.toHaveProperty("renew_before_seconds");
    expect(policyBody(d)).toEqual({ name: "p", auto_renew: true, rotate_key: false, max_attempts: 5, retry_interval_seconds: 3600, renew_before_seconds: 30 * 86_400 });
  });
});
