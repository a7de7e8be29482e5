import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../api/client";
import { ALL_PERMISSIONS, renderPage, whoami } from "../test/render";
import { NotificationsPage, retryLabel } from "./Notifications";

vi.mock("../api/client", async (original) => ({
  ...(await original<typeof import("../api/client")>()),
  me: vi.fn(),
  listChannels: vi.fn(),
  listNotifications: vi.fn(),
  requeueNotification: vi.fn(),
  getNotification: vi.fn(),
}));

const mocked = vi.mocked(api);

function row(id: string, status: api.NotificationStatus, extra: Partial<api.Notification> = {}): api.Notification {
  return {
    id,
    type: "certificate_issued",
    status,
    channel_id: "0191e7a4-0000-7000-8000-000000000001",
    channel_kind: "webhook",
    retry_count: status === "dead" ? 5 : 0,
    max_attempts: 5,
    created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
    last_error: status === "dead" ? "HTTP 500 from the receiver" : null,
    ...extra,
  };
}

const ALL_ID = "0191e7a4-1111-7000-8000-000000000001";
const DEAD_ID = "0191e7a4-2222-7000-8000-000000000002";

beforeEach(() => {
  vi.resetAllMocks();
  mocked.me.mockResolvedValue(whoami("admin", ALL_PERMISSIONS));
  mocked.listChannels.mockResolvedValue({ data: [], next_cursor: null, total: 0 });
  mocked.listNotifications.mockImplementation(async (q) =>
    q.status === "dead"
      ? { data: [row(DEAD_ID, "dead")], next_cursor: null, total: 1 }
      : { data: [row(ALL_ID, "sent", { last_error: "all-tab-marker" })], next_cursor: null, total: 1 },
  );
});

describe("NotificationsPage", () => {
  it("keys each tab's list by the tab, so switching never shows the other tab's rows", async () => {
    const user = userEvent.setup();
    const { client } = renderPage(<NotificationsPage />);
    await screen.findByText("all-tab-marker");
    expect(client.getQueryCache().findAll({ queryKey: ["notifications", "all"] })).toHaveLength(1);

    // The dead tab's answer is held back: until it comes, the panel must not show "all" rows.
    let release: () => void = () => {};
    mocked.listNotifications.mockImplementationOnce(
      (q) =>
        new Promise((resolve) => {
          release = () => resolve({ data: [row(DEAD_ID, q.status ?? "dead")], next_cursor: null, total: 1 });
        }),
    );
    await user.click(screen.getByRole("tab", { name: "Dead letter" }));
    expect(screen.getByRole("tab", { name: "Dead letter" })).toHaveAttribute("aria-selected", "true");
    expect(screen.queryByText("all-tab-marker")).not.toBeInTheDocument();
    release();
    expect(await screen.findByText("Retry 5/5")).toBeInTheDocument();
    expect(mocked.listNotifications).toHaveBeenLastCalledWith(expect.objectContaining({ status: "dead" }));
    expect(client.getQueryCache().findAll({ queryKey: ["notifications", "dead"] })).toHaveLength(1);

    await user.click(screen.getByRole("tab", { name: "All" }));
    expect(await screen.findByText("all-tab-marker")).toBeInTheDocument();
    expect(screen.queryByText("Retry 5/5")).not.toBeInTheDocument();
  });

  it("requeues with exactly the row's id, nothing else reaching the API client", async () => {
    const user = userEvent.setup();
    mocked.requeueNotification.mockResolvedValue(row(DEAD_ID, "pending"));
    renderPage(<NotificationsPage />);
    await user.click(await screen.findByRole("tab", { name: "Dead letter" }));
    const button = await screen.findByRole("button", { name: `Requeue notification ${DEAD_ID}` });
    await user.click(button);
    await waitFor(() => expect(mocked.requeueNotification).toHaveBeenCalledTimes(1));
    expect(mocked.requeueNotification).toHaveBeenCalledWith(DEAD_ID);
  });

  it("shows the attempts against the budget the server reports, and the whole error on hover", async () => {
    const user = userEvent.setup();
    const long = "connection reset by peer while reading the response headers from the receiver at hooks";
    mocked.listNotifications.mockResolvedValue({
      data: [row(DEAD_ID, "dead", { retry_count: 7, max_attempts: 7, last_error: long })],
      next_cursor: null,
      total: 1,
    });
    renderPage(<NotificationsPage />);
    await user.click(await screen.findByRole("tab", { name: "Dead letter" }));
    const cells = within(await screen.findByTestId("notification-row"));
    expect(cells.getByText("Retry 7/7")).toBeInTheDocument();
    expect(cells.getByTitle(long)).toBeInTheDocument();
    expect(retryLabel({ retry_count: 2, max_attempts: 9 })).toBe("Retry 2/9");
  });

  it("offers requeue only on failed and dead rows, and explains it to a role that lacks it", async () => {
    mocked.me.mockResolvedValue(whoami("viewer", ["certificates:read"]));
    mocked.listNotifications.mockResolvedValue({
      data: [row(ALL_ID, "sent"), row(DEAD_ID, "dead")],
      next_cursor: null,
      total: 2,
    });
    renderPage(<NotificationsPage />);
    const button = await screen.findByRole("button", { name: `Requeue notification ${DEAD_ID}` });
    await waitFor(() => expect(button).toBeDisabled());
    expect(button).toHaveAttribute("title", "Your role cannot requeue notifications");
    expect(screen.queryByRole("button", { name: `Requeue notification ${ALL_ID}` })).not.toBeInTheDocument();
  });
});
