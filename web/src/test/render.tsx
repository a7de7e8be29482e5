// Renders a page as the app does: a fresh query client, a signed-in session, a router.

import type { ReactElement } from "react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import { MemoryRouter } from "react-router";

import { session } from "../api/client";
import { SessionProvider } from "../auth/session";

export function renderPage(ui: ReactElement, { path = "/" } = {}) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  session.set("test-key");
  const result = render(
    <QueryClientProvider client={client}>
      <SessionProvider>
        <MemoryRouter initialEntries={[path]}>{ui}</MemoryRouter>
      </SessionProvider>
    </QueryClientProvider>,
  );
  return { ...result, client };
}

export const ALL_PERMISSIONS = [
  "certificates:read",
  "certificates:write",
  "certificates:bulk_revoke",
  "profiles:write",
  "issuers:write",
  "jobs:decide",
  "api_keys:manage",
  "audit:read",
  "channels:write",
  "notifications:operate",
  "discovery:manage",
];

export function whoami(role: "admin" | "operator" | "viewer" | "auditor", permissions: string[]) {
  return { principal: `${role}@example.com`, role, key_id: "00000000-0000-7000-8000-000000000001", key_name: role, permissions };
}
