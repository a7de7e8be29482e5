// The console's client of the certctl REST API. Every type comes from `schema.d.ts`, which
// `npm run gen:api` generates from docs/openapi.json (the document the server itself is checked
// against), so the console cannot drift from the API.
//
// Each function is one operation and takes only its own arguments: TanStack Query passes extra
// context to `mutationFn`/`queryFn`, which must never reach a request.

import type { components, operations } from "./schema";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];
export type Certificate = Schemas["CertificateOut"];
export type Issued = Schemas["IssuedOut"];
export type AwaitingApproval = Schemas["AwaitingApprovalOut"];
export type Issuer = Schemas["IssuerOut"];
export type Profile = Schemas["ProfileOut"];
export type Job = Schemas["JobOut"];
export type JobStatus = Schemas["JobStatus"];
export type RenewalPolicy = Schemas["RenewalPolicyOut"];
export type RenewalKey = Schemas["RenewalKeyOut"];
export type Notification = Schemas["NotificationOut"];
export type NotificationDetail = Schemas["NotificationDetailOut"];
export type Channel = Schemas["ChannelOut"];
export type AuditEvent = Schemas["AuditEventOut"];
export type ApiKey = Schemas["ApiKeyOut"];
export type ApiKeyCreated = Schemas["ApiKeyCreatedOut"];
export type Me = Schemas["MeOut"];
export type Summary = Schemas["SummaryOut"];
export type NotificationStatus = Schemas["NotificationStatus"];
export type CertificateStatus = Schemas["CertificateStatus"];
export type RevocationReason = Schemas["RevocationReason"];
export type EventType = Schemas["EventType"];
export type ChannelKind = Schemas["ChannelKind"];
export type KeyAlgorithm = Schemas["KeyAlgorithm"];
export type Role = Schemas["Role"];
export type ScanTarget = Schemas["ScanTargetOut"];
export type DiscoveredCertificate = Schemas["DiscoveredCertificateOut"];
export type DiscoveredEndpoint = Schemas["EndpointOut"];
/** What became of a discovered certificate (the API types `status` as a string with these values). */
export type DiscoveryStatus = "managed" | "unmanaged" | "claimed" | "dismissed";

/** One page of a list. */
export interface Page<T> {
  data: T[];
  next_cursor?: string | null;
  total: number;
  /** `total` is the database's estimate (lists count exactly up to 10,000 matches). */
  total_estimated?: boolean;
}

/** A list's total as the API gave it: "about N" when it is an estimate. */
export function totalText(page: { total: number; total_estimated?: boolean }): string {
  return page.total_estimated ? `about ${page.total.toLocaleString("en")}` : String(page.total);
}

type Query<Op extends keyof operations> = operations[Op] extends { parameters: { query?: infer Q } }
  ? NonNullable<Q>
  : never;
export type CertificateQuery = Query<"list_certificates">;
export type NotificationQuery = Query<"list_notifications">;
export type JobQuery = Query<"list_jobs">;
export type AuditQuery = Query<"list_audit_events">;
export type DiscoveredQuery = Query<"list_discovered_certificates">;

/** A refusal of the API, with its RFC 9457 problem. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail || problem.title);
    this.status = problem.status;
    this.problem = problem;
  }
}

const KEY = "certctl.apiKey";

/** The API key of this tab: sessionStorage only (never localStorage, never a cookie). */
export const session = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (key: string) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};

type Params = Record<string, string | number | boolean | readonly string[] | null | undefined>;

/** The query string; a list (such as several certificate states) is sent comma-separated. */
function search(query?: Params): string {
  if (!query) return "";
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (Array.isArray(v)) {
      if (v.length > 0) out.set(k, v.join(","));
    } else if (v !== undefined && v !== null && v !== "") out.set(k, String(v));
  }
  const s = out.toString();
  return s ? `?${s}` : "";
}

async function request<T>(method: string, path: string, opts: { query?: Params; body?: unknown; key?: string } = {}): Promise<T> {
  const key = opts.key ?? session.get();
  const headers: Record<string, string> = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  const resp = await fetch(`/api/v1${path}${search(opts.query)}`, { method, headers, body });
  if (!resp.ok) {
    let problem: Problem;
    try {
      problem = (await resp.json()) as Problem;
    } catch {
      problem = { type: "about:blank", title: resp.statusText, status: resp.status, detail: "", code: "http_error" };
    }
    throw new ApiError(problem);
  }
  if (resp.status === 204) return undefined as T;
  const type = resp.headers.get("content-type") ?? "";
  return (type.includes("json") ? resp.json() : resp.text()) as Promise<T>;
}

const enc = encodeURIComponent;

export const me = (key?: string) => request<Me>("GET", "/auth/me", key ? { key } : {});
export const getSummary = () => request<Summary>("GET", "/stats/summary");

export const listCertificates = (query: CertificateQuery) => request<Page<Certificate>>("GET", "/certificates", { query });
export const getCertificate = (id: string) => request<Certificate>("GET", `/certificates/${enc(id)}`);
export const getCertificatePem = (id: string) => request<string>("GET", `/certificates/${enc(id)}/pem`);
export const issueCertificate = (body: Schemas["IssueIn"]) =>
  request<Issued | AwaitingApproval>("POST", "/certificates", { body });
export const renewCertificate = (id: string, body: Schemas["RenewIn"] = {}) =>
  request<Issued | AwaitingApproval>("POST", `/certificates/${enc(id)}/renew`, { body });
export const revokeCertificate = (id: string, body: Schemas["RevokeIn"]) =>
  request<Certificate>("POST", `/certificates/${enc(id)}/revoke`, { body });
export const bulkRevoke = (body: Schemas["BulkRevokeIn"]) =>
  request<Schemas["BulkRevokeOut"]>("POST", "/certificates/bulk-revoke", { body });

export const listIssuers = () => request<Page<Issuer>>("GET", "/issuers");
export const getIssuer = (id: string) => request<Issuer>("GET", `/issuers/${enc(id)}`);
export const createIssuer = (body: Schemas["IssuerIn"]) => request<Issuer>("POST", "/issuers", { body });
export const disableIssuer = (id: string) => request<Issuer>("POST", `/issuers/${enc(id)}/disable`, { body: {} });
export const enableIssuer = (id: string) => request<Issuer>("POST", `/issuers/${enc(id)}/enable`, { body: {} });
export const listProfiles = () => request<Page<Profile>>("GET", "/profiles");
export const getProfile = (id: string) => request<Profile>("GET", `/profiles/${enc(id)}`);
export const createProfile = (body: Schemas["ProfileIn"]) => request<Profile>("POST", "/profiles", { body });
export const replaceProfile = (id: string, body: Schemas["ProfileIn"]) => request<Profile>("PUT", `/profiles/${enc(id)}`, { body });

export const listRenewalPolicies = () => request<Page<RenewalPolicy>>("GET", "/renewal-policies");
export const createRenewalPolicy = (body: Schemas["RenewalPolicyIn"]) => request<RenewalPolicy>("POST", "/renewal-policies", { body });
export const replaceRenewalPolicy = (id: string, body: Schemas["RenewalPolicyIn"]) =>
  request<RenewalPolicy>("PUT", `/renewal-policies/${enc(id)}`, { body });
export const deleteRenewalPolicy = (id: string) => request<void>("DELETE", `/renewal-policies/${enc(id)}`);
/** The policy a certificate follows instead of its profile's; `null` goes back to the profile's. */
export const setCertificatePolicy = (id: string, renewal_policy_id: string | null) =>
  request<Certificate>("PUT", `/certificates/${enc(id)}/renewal-policy`, { body: { renewal_policy_id } });

export const listJobs = (query: JobQuery) => request<Page<Job>>("GET", "/jobs", { query });
export const approveJob = (id: string, note?: string) => request<Job>("POST", `/jobs/${enc(id)}/approve`, { body: note ? { note } : {} });
export const rejectJob = (id: string, note?: string) => request<Job>("POST", `/jobs/${enc(id)}/reject`, { body: note ? { note } : {} });
export const submitJobCsr = (id: string, csr_pem: string) => request<Job>("POST", `/jobs/${enc(id)}/csr`, { body: { csr_pem } });
/** The key a key-rotating renewal generated, with its certificate: answered once, then erased. */
export const collectJobKey = (id: string) => request<RenewalKey>("POST", `/jobs/${enc(id)}/key`, { body: {} });

export const listNotifications = (query: NotificationQuery) => request<Page<Notification>>("GET", "/notifications", { query });
export const getNotification = (id: string) => request<NotificationDetail>("GET", `/notifications/${enc(id)}`);
export const requeueNotification = (id: string) => request<Notification>("POST", `/notifications/${enc(id)}/requeue`, { body: {} });

export const listChannels = () => request<Page<Channel>>("GET", "/notification-channels");
export const createChannel = (body: Schemas["ChannelIn"]) => request<Channel>("POST", "/notification-channels", { body });
export const updateChannel = (id: string, body: Schemas["ChannelPatch"]) =>
  request<Channel>("PATCH", `/notification-channels/${enc(id)}`, { body });
export const testChannel = (id: string) => request<Notification>("POST", `/notification-channels/${enc(id)}/test`, { body: {} });

export const listScanTargets = () => request<Page<ScanTarget>>("GET", "/scan-targets");
export const getScanTarget = (id: string) => request<ScanTarget>("GET", `/scan-targets/${enc(id)}`);
export const createScanTarget = (body: Schemas["ScanTargetIn"]) => request<ScanTarget>("POST", "/scan-targets", { body });
export const replaceScanTarget = (id: string, body: Schemas["ScanTargetIn"]) => request<ScanTarget>("PUT", `/scan-targets/${enc(id)}`, { body });
export const deleteScanTarget = (id: string) => request<void>("DELETE", `/scan-targets/${enc(id)}`);
/** Makes a target due now: the next tick of a worker scans it (202, with the target). */
export const scanTargetNow = (id: string) => request<ScanTarget>("POST", `/scan-targets/${enc(id)}/scan`, { body: {} });
export const listDiscovered = (query: DiscoveredQuery) =>
  request<Page<DiscoveredCertificate>>("GET", "/discovered-certificates", { query });
/** One discovered certificate with its endpoints and PEMs (a claim or dismissal answers without them). */
export const getDiscovered = (id: string) => request<DiscoveredCertificate>("GET", `/discovered-certificates/${enc(id)}`);
export const claimDiscovered = (id: string, note?: string) =>
  request<DiscoveredCertificate>("POST", `/discovered-certificates/${enc(id)}/claim`, { body: note ? { note } : {} });
export const dismissDiscovered = (id: string, note?: string) =>
  request<DiscoveredCertificate>("POST", `/discovered-certificates/${enc(id)}/dismiss`, { body: note ? { note } : {} });

export const listAudit = (query: AuditQuery) => request<Page<AuditEvent>>("GET", "/audit", { query });

export const listKeys = () => request<Page<ApiKey>>("GET", "/api-keys");
export const createKey = (body: Schemas["ApiKeyIn"]) => request<ApiKeyCreated>("POST", "/api-keys", { body });
export const disableKey = (id: string) => request<ApiKey>("POST", `/api-keys/${enc(id)}/disable`, { body: {} });

/** Whether an issuance answer is a job waiting for approval rather than a certificate. */
export const isAwaiting = (r: Issued | AwaitingApproval): r is AwaitingApproval => "job_id" in r && !("serial_hex" in r);
