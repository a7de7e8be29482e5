import { screen, within } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../api/client";
import { ALL_PERMISSIONS, renderPage, whoami } from "../test/render";
import { DashboardPage } from "./Dashboard";

vi.mock("../api/client", async (original) => ({
  ...(await original<typeof import("../api/client")>()),
  me: vi.fn(),
  getSummary: vi.fn(),
  listCertificates: vi.fn(),
  listIssuers: vi.fn(),
  listNotifications: vi.fn(),
}));

const mocked = vi.mocked(api);

beforeEach(() => {
  vi.resetAllMocks();
  mocked.me.mockResolvedValue(whoami("admin", ALL_PERMISSIONS));
  mocked.getSummary.mockResolvedValue({
    certificates: { active: 40, expiring: 3, renewal_in_progress: 2, expired: 1, renewed: 12, revoked: 5, total: 63 },
    expiring_soon: 4,
    expiring_soon_days: 30,
    jobs_awaiting_approval: 1,
    notifications_dead: 0,
    revocation: [],
  });
  mocked.listCertificates.mockResolvedValue({ data: [], next_cursor: null, total: 0 });
  mocked.listIssuers.mockResolvedValue({ data: [], next_cursor: null, total: 0 });
  mocked.listNotifications.mockResolvedValue({ data: [], next_cursor: null, total: 0 });
});

describe("DashboardPage", () => {
  it("counts certificates in each of the six states, each linking to the list filtered by it", async () => {
    renderPage(<DashboardPage />);
    const card = within((await screen.findByRole("heading", { name: "Certificates" })).closest("article") as HTMLElement);
    expect(card.getByText("63")).toBeInTheDocument();
    const links = card.getAllByRole("link").filter((l) => l.getAttribute("href")?.startsWith("/certificates?status="));
    expect(links.map((l) => [l.textContent, l.getAttribute("href")])).toEqual([
      ["40 active", "/certificates?status=active"],
      ["3 expiring", "/certificates?status=expiring"],
      ["2 renewal in progress", "/certificates?status=renewal_in_progress"],
      ["1 expired", "/certificates?status=expired"],
      ["12 renewed", "/certificates?status=renewed"],
      ["5 revoked", "/certificates?status=revoked"],
    ]);
    expect(card.queryByText(/superseded/)).not.toBeInTheDocument();
  });

  it("bars the live certificates (active, expiring or being renewed) expiring within 7, 30 and 90 days", async () => {
    mocked.listCertificates.mockImplementation(async (q) => {
      const days = Math.round((Date.parse(q.expiring_before ?? "") - Date.now()) / 86_400_000);
      return { data: [], next_cursor: null, total: q.status?.join(",") === "active,expiring,renewal_in_progress" ? days * 10 : 0 };
    });
    renderPage(<DashboardPage />);
    const card = within((await screen.findByRole("heading", { name: "Live certificates expiring" })).closest("article") as HTMLElement);
    for (const [label, total] of [["within 7 days", "70"], ["within 30 days", "300"], ["within 90 days", "900"]] as const) {
      const bar = within(card.getByText(label).closest("li") as HTMLElement);
      expect(await bar.findByText(total)).toBeInTheDocument();
    }
  });
});
