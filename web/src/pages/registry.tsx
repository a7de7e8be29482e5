// The pages besides the dashboard and notifications, each with the permission it needs to read.
// Each area is its own chunk, loaded when first opened, so the first load stays small.

import { lazy, Suspense, type ComponentType, type ReactElement } from "react";

import type { Permission } from "../auth/session";
import { Loading } from "../components/ui";

export interface PageDef {
  path: string;
  element: ReactElement;
  needs?: Permission;
}

/** A page component exported as `name` from a module loaded on first use. */
function page<M>(load: () => Promise<M>, name: keyof M): ReactElement {
  const Page = lazy(async () => ({ default: (await load())[name] as ComponentType }));
  return (
    <Suspense fallback={<Loading />}>
      <Page />
    </Suspense>
  );
}

const certificates = () => import("./Certificates");
const issuers = () => import("./Issuers");
const profiles = () => import("./Profiles");
const discovery = () => import("./Discovery");

export const pages: PageDef[] = [
  { path: "/certificates", element: page(certificates, "CertificatesPage"), needs: "certificates:read" },
  { path: "/certificates/:id", element: page(certificates, "CertificateDetailPage"), needs: "certificates:read" },
  { path: "/discovery", element: page(discovery, "DiscoveryPage"), needs: "certificates:read" },
  { path: "/discovery/:id", element: page(discovery, "DiscoveredCertificatePage"), needs: "certificates:read" },
  { path: "/issuers", element: page(issuers, "IssuersPage"), needs: "certificates:read" },
  { path: "/issuers/:id", element: page(issuers, "IssuerDetailPage"), needs: "certificates:read" },
  { path: "/profiles", element: page(profiles, "ProfilesPage"), needs: "certificates:read" },
  { path: "/profiles/:id", element: page(profiles, "ProfileDetailPage"), needs: "certificates:read" },
  { path: "/renewal-policies", element: page(() => import("./RenewalPolicies"), "RenewalPoliciesPage"), needs: "certificates:read" },
  { path: "/approvals", element: page(() => import("./Approvals"), "ApprovalsPage"), needs: "certificates:read" },
  { path: "/channels", element: page(() => import("./Channels"), "ChannelsPage"), needs: "certificates:read" },
  { path: "/audit", element: page(() => import("./Audit"), "AuditPage"), needs: "audit:read" },
  { path: "/keys", element: page(() => import("./ApiKeys"), "ApiKeysPage"), needs: "api_keys:manage" },
];
