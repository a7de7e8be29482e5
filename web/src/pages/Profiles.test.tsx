import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../api/client";
import { ALL_PERMISSIONS, renderPage, whoami } from "../test/render";
import { ProfileDetailPage, ProfilesPage } from "./Profiles";

vi.mock("../api/client", async (original) => ({
  ...(await original<typeof import("../api/client")>()),
  me: vi.fn(),
  listProfiles: vi.fn(),
  getProfile: vi.fn(),
  createProfile: vi.fn(),
  replaceProfile: vi.fn(),
  listRenewalPolicies: vi.fn(),
}));

const mocked = vi.mocked(api);
const PROFILE_ID = "0191e7a4-cccc-7000-8000-000000000003";
const BUILT_IN_ID = "0191e7a4-eeee-7000-8000-000000000001";
const MONTHLY_ID = "0191e7a4-eeee-7000-8000-000000000002";

function policy(id: string, name: string, built_in = false): api.RenewalPolicy {
  return {
    id,
    name,
    built_in,
    renew_at_fraction: 2 / 3,
    auto_renew: true,
    rotate_key: false,
    max_attempts: 5,
    retry_interval_seconds: 3600,
    created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
  };
}

const profile: api.Profile = {
  id: PROFILE_ID,
  name: "corp-web",
  description: "Web servers",
  max_ttl_seconds: 90 * 86_400,
  allowed_key_algorithms: ["ecdsa-p256", "rsa-2048"],
  ekus: ["server_auth"],
  san_rules: { allowed_domains: ["corp.example"], allow_subdomains: true, allow_wildcards: false, allow_ip_addresses: false, max_names: 0 },
  requires_approval: true,
  allow_short_lived: false,
  revision: 3,
  created_at: new Date().toISOString(),
  updated_at: new Date().toISOString(),
};

beforeEach(() => {
  vi.resetAllMocks();
  mocked.me.mockResolvedValue(whoami("admin", ALL_PERMISSIONS));
  mocked.listProfiles.mockResolvedValue({ data: [profile], next_cursor: null, total: 1 });
  mocked.getProfile.mockResolvedValue(profile);
  mocked.listRenewalPolicies.mockResolvedValue({ data: [policy(BUILT_IN_ID, "default", true), policy(MONTHLY_ID, "monthly")], next_cursor: null, total: 2 });
});

describe("ProfilesPage", () => {
  it("lists profiles with lifetime in days, keys, approval and revision", async () => {
    renderPage(<ProfilesPage />);
    const row = within((await screen.findByRole("link", { name: "corp-web" })).closest("tr") as HTMLElement);
    expect(row.getByText("90 days")).toBeInTheDocument();
    expect(row.getByText("ecdsa-p256, rsa-2048")).toBeInTheDocument();
    expect(row.getByText("required")).toBeInTheDocument();
    expect(row.getByText("3")).toBeInTheDocument();
  });

  it("creates a profile with days turned into seconds, after checking it", async () => {
    const user = userEvent.setup();
    mocked.createProfile.mockResolvedValue(profile);
    renderPage(<ProfilesPage />);
    await user.click(await screen.findByRole("button", { name: "Create profile" }));
    const form = within(await screen.findByRole("form", { name: "Create a profile" }));
    await user.click(form.getByRole("checkbox", { name: "ECDSA P-256" }));
    await user.click(form.getByRole("checkbox", { name: "Server authentication (TLS server)" }));
    await user.clear(form.getByLabelText("Max lifetime (days)"));
    await user.type(form.getByLabelText("Max lifetime (days)"), "4000");
    await user.click(form.getByRole("button", { name: "Create" }));
    expect(form.getByText("Name is required")).toBeInTheDocument();
    expect(form.getByText("Allow at least one key algorithm")).toBeInTheDocument();
    expect(form.getByText("Choose at least one extended key usage")).toBeInTheDocument();
    expect(form.getByText(/from 1 to 3650/)).toBeInTheDocument();
    expect(mocked.createProfile).not.toHaveBeenCalled();

    await user.type(form.getByLabelText("Name"), "corp-mtls");
    await user.type(form.getByLabelText("Description"), "mTLS clients");
    await user.clear(form.getByLabelText("Max lifetime (days)"));
    await user.type(form.getByLabelText("Max lifetime (days)"), "30");
    await user.click(form.getByRole("checkbox", { name: "RSA 2048" }));
    await user.click(form.getByRole("checkbox", { name: "ECDSA P-384" }));
    await user.click(form.getByRole("checkbox", { name: "Client authentication (TLS client)" }));
    await user.type(form.getByLabelText("Allowed domains"), "corp.example{enter}svc.example");
    await user.click(form.getByRole("checkbox", { name: "Allow subdomains" }));
    await user.type(form.getByLabelText("Max names"), "5");
    await user.click(form.getByRole("checkbox", { name: "Requires approval" }));
    // The built-in policy is what "no policy" means: it is not offered twice.
    expect(form.getByLabelText("Renewal policy")).toHaveValue("");
    expect(within(form.getByLabelText("Renewal policy")).getAllByRole("option").map((o) => o.textContent)).toEqual(["built-in policy", "monthly"]);
    await user.selectOptions(form.getByLabelText("Renewal policy"), MONTHLY_ID);
    await user.click(form.getByRole("button", { name: "Create" }));
    await waitFor(() => expect(mocked.createProfile).toHaveBeenCalledTimes(1));
    expect(mocked.createProfile).toHaveBeenCalledWith({
      name: "corp-mtls",
      description: "mTLS clients",
      max_ttl_seconds: 30 * 86_400,
      allowed_key_algorithms: ["ecdsa-p384", "rsa-2048"],
      ekus: ["client_auth"],
      san_rules: { allowed_domains: ["corp.example", "svc.example"], allow_subdomains: true, allow_wildcards: false, allow_ip_addresses: false, max_names: 5 },
      requires_approval: true,
      allow_short_lived: false,
      renewal_policy_id: MONTHLY_ID,
    });
  });

  it("shows a profile's rules", async () => {
    renderPage(<ProfileDetailPage id={PROFILE_ID} />);
    expect(await screen.findByRole("heading", { name: "corp-web", level: 1 })).toBeInTheDocument();
    expect(screen.getByText("Web servers")).toBeInTheDocument();
    expect(screen.getByText("corp.example")).toBeInTheDocument();
    expect(screen.getByText("100 (default)")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Certificates under this profile" })).toHaveAttribute("href", `/certificates?profile_id=${PROFILE_ID}`);
    // No policy of its own: the built-in one.
    expect(await screen.findByRole("link", { name: "default" })).toHaveAttribute("href", "/renewal-policies");
    expect(screen.getByText(/built-in policy \(/)).toBeInTheDocument();
  });

  it("changes a profile's renewal policy by replacing the profile as it stands", async () => {
    const user = userEvent.setup();
    mocked.replaceProfile.mockResolvedValue({ ...profile, renewal_policy_id: MONTHLY_ID, revision: 4 });
    renderPage(<ProfileDetailPage id={PROFILE_ID} />);
    const form = within(await screen.findByRole("form", { name: "Renewal policy of this profile" }));
    expect(form.getByRole("button", { name: "Save renewal policy" })).toBeDisabled();
    expect(form.getByLabelText("Renewal policy")).toHaveAccessibleDescription(expect.stringContaining("revision goes up by one"));
    await user.selectOptions(form.getByLabelText("Renewal policy"), MONTHLY_ID);
    await user.click(form.getByRole("button", { name: "Save renewal policy" }));
    await waitFor(() => expect(mocked.replaceProfile).toHaveBeenCalledTimes(1));
    expect(mocked.replaceProfile).toHaveBeenCalledWith(PROFILE_ID, {
      name: "corp-web",
      description: "Web servers",
      max_ttl_seconds: 90 * 86_400,
      allowed_key_algorithms: ["ecdsa-p256", "rsa-2048"],
      ekus: ["server_auth"],
      san_rules: profile.san_rules,
      requires_approval: true,
      allow_short_lived: false,
      renewal_policy_id: MONTHLY_ID,
    });
    expect(await screen.findByRole("link", { name: "monthly" })).toHaveAttribute("href", "/renewal-policies");
    expect(screen.getByText("4")).toBeInTheDocument();
  });

  it("shows no renewal policy control to a role without profiles:write", async () => {
    mocked.me.mockResolvedValue(whoami("viewer", ["certificates:read"]));
    const { client } = renderPage(<ProfileDetailPage id={PROFILE_ID} />);
    await waitFor(() => expect(client.getQueryData(["me"])).toBeDefined());
    await screen.findByRole("link", { name: "default" });
    expect(screen.queryByRole("form", { name: "Renewal policy of this profile" })).not.toBeInTheDocument();
  });

  it("shows the empty state and the API's problem", async () => {
    mocked.listProfiles.mockResolvedValueOnce({ data: [], next_cursor: null, total: 0 });
    const { unmount } = renderPage(<ProfilesPage />);
    expect(await screen.findByText(/No profile yet/)).toBeInTheDocument();
    unmount();
    mocked.listProfiles.mockRejectedValue(new api.ApiError({ type: "x", title: "Service Unavailable", status: 503, detail: "database unavailable", code: "service_unavailable" }));
    renderPage(<ProfilesPage />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Service Unavailable (503): database unavailable");
  });
});
