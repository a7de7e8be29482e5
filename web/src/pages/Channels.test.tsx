import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../api/client";
import { ALL_PERMISSIONS, renderPage, whoami } from "../test/render";
import { ChannelsPage, configBody, validateConfig } from "./Channels";

vi.mock("../api/client", async (original) => ({
  ...(await original<typeof import("../api/client")>()),
  me: vi.fn(),
  listChannels: vi.fn(),
  createChannel: vi.fn(),
  updateChannel: vi.fn(),
  testChannel: vi.fn(),
}));

const mocked = vi.mocked(api);
const CHANNEL_ID = "0191e7a4-0000-7000-8000-000000000001";
const NOTIFICATION_ID = "0191e7a4-9999-7000-8000-000000000009";
const SECRET = `whsec_${btoa("0123456789abcdef0123456789abcdef")}`;

function channel(extra: Partial<api.Channel> = {}): api.Channel {
  return {
    id: CHANNEL_ID,
    name: "ops-hook",
    kind: "webhook",
    config: { url: "https://hooks.example.com/…" },
    secrets_set: ["secret", "url"],
    event_types: ["certificate_revoked", "expiration_warning"],
    enabled: true,
    created_by: "admin",
    created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
    ...extra,
  };
}

beforeEach(() => {
  vi.resetAllMocks();
  mocked.me.mockResolvedValue(whoami("admin", ALL_PERMISSIONS));
  mocked.listChannels.mockResolvedValue({ data: [channel()], next_cursor: null, total: 1 });
});

describe("ChannelsPage", () => {
  it("lists channels with kind, enabled state, events and which secrets are set", async () => {
    renderPage(<ChannelsPage />);
    const row = within(await screen.findByTestId("channel-row"));
    expect(row.getByText("ops-hook")).toBeInTheDocument();
    expect(row.getByText("Webhook")).toBeInTheDocument();
    expect(row.getByText("enabled")).toBeInTheDocument();
    expect(row.getByText("certificate_revoked, expiration_warning")).toBeInTheDocument();
    expect(row.getByText("secret, url")).toBeInTheDocument();
    expect(row.getByText("url: https://hooks.example.com/…")).toBeInTheDocument();
  });

  it("creates a webhook with password inputs for its secrets, checked before sending", async () => {
    const user = userEvent.setup();
    mocked.createChannel.mockResolvedValue(channel());
    renderPage(<ChannelsPage />);
    await user.click(await screen.findByRole("button", { name: "Create channel" }));
    const form = within(await screen.findByRole("form", { name: "Create a channel" }));
    expect(form.getByLabelText("URL")).toHaveAttribute("type", "password");
    expect(form.getByLabelText("URL")).toHaveValue("");
    expect(form.getByLabelText("Signing secret")).toHaveAttribute("type", "password");

    await user.type(form.getByLabelText("Name"), "ops-hook");
    await user.type(form.getByLabelText("URL"), "ftp://nope");
    await user.type(form.getByLabelText("Signing secret"), "not-a-secret");
    await user.click(form.getByRole("button", { name: "Create" }));
    expect(form.getByText("URL must be an http:// or https:// URL")).toBeInTheDocument();
    expect(form.getByText("The secret must start with whsec_")).toBeInTheDocument();
    expect(mocked.createChannel).not.toHaveBeenCalled();

    await user.clear(form.getByLabelText("URL"));
    await user.type(form.getByLabelText("URL"), "https://hooks.example.com/certctl?token=abc");
    await user.clear(form.getByLabelText("Signing secret"));
    await user.click(form.getByLabelText("Signing secret"));
    await user.paste(SECRET);
    await user.click(form.getByRole("checkbox", { name: "Channel test" }));
    await user.click(form.getByRole("button", { name: "Create" }));
    await waitFor(() => expect(mocked.createChannel).toHaveBeenCalledTimes(1));
    expect(mocked.createChannel).toHaveBeenCalledWith({
      name: "ops-hook",
      kind: "webhook",
      config: { url: "https://hooks.example.com/certctl?token=abc", secret: SECRET },
      event_types: ["certificate_revoked", "expiration_warning", "channel_test"],
      enabled: true,
    });
  });

  it("shows each kind's own fields, with the names channel_config.rs reads", async () => {
    const user = userEvent.setup();
    renderPage(<ChannelsPage />);
    await user.click(await screen.findByRole("button", { name: "Create channel" }));
    const form = within(await screen.findByRole("form", { name: "Create a channel" }));
    await user.selectOptions(form.getByLabelText("Kind"), "email");
    expect(form.getByLabelText("Password (optional)")).toHaveAttribute("type", "password");
    expect(form.getByLabelText("TLS")).toHaveValue("starttls");
    await user.selectOptions(form.getByLabelText("Kind"), "pagerduty");
    expect(form.getByLabelText("Routing key")).toHaveAttribute("type", "password");
    expect(form.getByLabelText("Severity")).toHaveValue("warning");
    await user.selectOptions(form.getByLabelText("Kind"), "opsgenie");
    expect(form.getByLabelText("API key")).toHaveAttribute("type", "password");
    expect(form.getByLabelText("Priority")).toHaveValue("P3");
    await user.selectOptions(form.getByLabelText("Kind"), "slack");
    expect(form.getByLabelText("Webhook URL")).toHaveAttribute("type", "password");

    const email = { smtp_host: "smtp.example.com", smtp_port: "587", tls: "none", from: "certctl@example.com", to: "a@example.com\nb@example.com", username: "u", password: "p" };
    expect(validateConfig("email", email).tls).toMatch(/in the clear/);
    expect(validateConfig("email", { ...email, smtp_host: "localhost" })).toEqual({});
    expect(validateConfig("email", { ...email, tls: "starttls", password: "" }).password).toMatch(/go together/);
    expect(configBody("email", { ...email, tls: "starttls" })).toEqual({
      smtp_host: "smtp.example.com",
      smtp_port: 587,
      tls: "starttls",
      from: "certctl@example.com",
      to: ["a@example.com", "b@example.com"],
      username: "u",
      password: "p",
    });
    expect(configBody("pagerduty", { routing_key: "R0UT1NG", severity: "critical", api_url: "" })).toEqual({ routing_key: "R0UT1NG", severity: "critical" });
  });

  it("toggles a channel with { enabled } only, and sends a test, showing the queued notification", async () => {
    const user = userEvent.setup();
    mocked.updateChannel.mockResolvedValue(channel({ enabled: false }));
    mocked.testChannel.mockResolvedValue({
      id: NOTIFICATION_ID,
      type: "channel_test",
      status: "pending",
      channel_id: CHANNEL_ID,
      channel_kind: "webhook",
      retry_count: 0,
      max_attempts: 5,
      created_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
    });
    renderPage(<ChannelsPage />);
    await user.click(await screen.findByRole("button", { name: "Disable channel ops-hook" }));
    await waitFor(() => expect(mocked.updateChannel).toHaveBeenCalledWith(CHANNEL_ID, { enabled: false }));
    await user.click(screen.getByRole("button", { name: "Send test to ops-hook" }));
    expect(await screen.findByText(`Test notification queued for ops-hook: ${NOTIFICATION_ID}`)).toBeInTheDocument();
    expect(mocked.testChannel).toHaveBeenCalledWith(CHANNEL_ID);
    expect(screen.getByRole("link", { name: "Follow it in Notifications" })).toHaveAttribute("href", "/notifications");
  });

  it("explains to a viewer why it can neither change nor test channels", async () => {
    mocked.me.mockResolvedValue(whoami("viewer", ["certificates:read"]));
    const { client } = renderPage(<ChannelsPage />);
    await waitFor(() => expect(client.getQueryData(["me"])).toBeDefined());
    const toggle = await screen.findByRole("button", { name: "Disable channel ops-hook" });
    await waitFor(() => expect(toggle).toBeDisabled());
    expect(toggle).toHaveAttribute("title", "Only admins can change channels (channels:write)");
    expect(screen.getByRole("button", { name: "Send test to ops-hook" })).toHaveAttribute(
      "title",
      "Your role cannot send test notifications (notifications:operate)",
    );
    expect(screen.getByRole("button", { name: "Create channel" })).toBeDisabled();
  });
});
