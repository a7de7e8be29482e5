// Discovery: the address ranges and ports the worker scans with TLS (scan targets), and the
// certificates those scans found. Every role that reads certificates sees both; admins
// (discovery:manage) create, edit (a whole replacement), delete and scan targets now; operators
// and admins (certificates:write) claim or dismiss a certificate certctl did not issue.
//
// The list's filters live in the URL (`?status=unmanaged&target_id=…`), as on the Certificates
// page, so Back from a certificate's detail returns to the same filters and a target's row can
// link to what it found.

import { useId, useRef, useState, type FormEvent } from "react";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams, useSearchParams } from "react-router";

import {
  claimDiscovered,
  createScanTarget,
  deleteScanTarget,
  dismissDiscovered,
  getDiscovered,
  listDiscovered,
  listScanTargets,
  replaceScanTarget,
  scanTargetNow,
  type DiscoveredCertificate,
  type DiscoveredQuery,
  type DiscoveryStatus,
  type ScanTarget,
  type Schemas,
} from "../api/client";
import { useSession } from "../auth/session";
import { Check, Field, Pager, SubmitRow, duration, focusFirstInvalid, keysOf, nameError, plural, useCursors, useDebounced, useTitle, useUrlFilters, wholeNumber } from "../components/forms";
import { Button, Dialog, Empty, Loading, ProblemAlert, Truncated, When } from "../components/ui";

const DENIED = "Only admins can change scan targets (discovery:manage)";
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** What became of a discovered certificate, in the order of the status filter. */
export const DISCOVERY_STATUSES: Record<DiscoveryStatus, string> = {
  unmanaged: "nobody has decided yet; its expiry is warned about",
  claimed: "someone owns it; its expiry is warned about",
  dismissed: "not ours to watch; no expiry warnings",
  managed: "certctl issued it: it is watched through the inventory",
};
const STATUSES = keysOf(DISCOVERY_STATUSES);
const isStatus = (s: string): s is DiscoveryStatus => (STATUSES as string[]).includes(s);

export function DiscoveryBadge({ status }: { status: string }) {
  if (!isStatus(status)) return <span className="badge">{status}</span>;
  return (
    <span className={`badge badge-${status}`} title={DISCOVERY_STATUSES[status]}>
      {status}
    </span>
  );
}

/** How a discovered certificate is named in lists and headings: its CN, else its whole subject. */
export const discoveredName = (c: Pick<DiscoveredCertificate, "common_name" | "subject">) => c.common_name || c.subject || "(no subject)";

const yesNo = (b: boolean) => (b ? "yes" : "no");

/** Whether a target's scan has started and not finished yet. */
const scanning = (t: ScanTarget) =>
  Boolean(t.last_scan_started_at) && (!t.last_scan_finished_at || new Date(t.last_scan_started_at!) > new Date(t.last_scan_finished_at));

const useTargets = () => useQuery({ queryKey: ["scan-targets"], queryFn: () => listScanTargets() });

// ---------------------------------------------------------------------------------------------
// The target form's draft

export interface TargetDraft {
  name: string;
  cidrs: string;
  ports: string;
  server_name: string;
  interval_seconds: string;
  timeout_ms: string;
  concurrency: string;
  enabled: boolean;
}

export type TargetErrors = Partial<Record<keyof TargetDraft, string>>;

/** The draft of a new target (the API's defaults), or of an existing one to edit. */
export function targetDraftOf(t?: ScanTarget): TargetDraft {
  return {
    name: t?.name ?? "",
    cidrs: t?.cidrs.join("\n") ?? "",
    ports: t?.ports.join(", ") ?? "443",
    server_name: t?.server_name ?? "",
    interval_seconds: String(t?.interval_seconds ?? 3600),
    timeout_ms: String(t?.timeout_ms ?? 2000),
    concurrency: String(t?.concurrency ?? 32),
    enabled: t?.enabled ?? true,
  };
}

/** Items typed one per line or separated by commas (or spaces). */
export const items = (text: string): string[] =>
  text
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);

/** Looks like an IPv4 or IPv6 address, with an optional prefix length; the API checks the rest. */
const ADDRESS = /^(\d{1,3}(\.\d{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)(\/\d{1,3})?$/;

/** A whole number from min to max, or null. */
const inRange = (text: string, min: number, max: number) => {
  const n = wholeNumber(text, min);
  return n !== null && n <= max ? n : null;
};

/**
 * What is wrong with the form, field by field, under the API's rules; empty when it can be sent.
 * The server alone counts addresses (at most 1024) and checks that a scan fits in 40 s: its 400
 * says so in the form.
 */
export function validateTarget(d: TargetDraft): TargetErrors {
  const e: TargetErrors = {};
  const n = nameError(d.name);
  if (n) e.name = n;
  const cidrs = items(d.cidrs);
  const badRange = cidrs.find((c) => !ADDRESS.test(c));
  if (cidrs.length === 0) e.cidrs = "At least one address or CIDR block is required";
  else if (cidrs.length > 32) e.cidrs = "At most 32 ranges";
  else if (badRange) e.cidrs = `“${badRange}” is not an IP address or CIDR block`;
  const ports = items(d.ports);
  const badPort = ports.find((p) => inRange(p, 1, 65535) === null);
  if (ports.length === 0) e.ports = "At least one port is required";
  else if (badPort) e.ports = `“${badPort}” is not a port: ports are whole numbers from 1 to 65535`;
  else if (ports.length > 32) e.ports = "At most 32 ports";
  const sni = d.server_name.trim();
  if (sni.length > 253) e.server_name = "The server name must be at most 253 characters";
  else if (/[\s/:]/.test(sni)) e.server_name = "The server name must be a DNS name, without scheme, port or spaces";
  if (wholeNumber(d.interval_seconds, 10) === null) e.interval_seconds = "The interval must be a whole number of seconds, at least 10";
  if (inRange(d.timeout_ms, 100, 60_000) === null) e.timeout_ms = "The timeout must be a whole number of milliseconds from 100 to 60000";
  if (inRange(d.concurrency, 1, 256) === null) e.concurrency = "Concurrency must be a whole number from 1 to 256";
  return e;
}

/** The request body: a whole target; no server name means no SNI. */
export function targetBody(d: TargetDraft): Schemas["ScanTargetIn"] {
  const body: Schemas["ScanTargetIn"] = {
    name: d.name,
    cidrs: items(d.cidrs),
    ports: items(d.ports).map(Number),
    interval_seconds: wholeNumber(d.interval_seconds, 10) ?? 3600,
    timeout_ms: wholeNumber(d.timeout_ms, 100) ?? 2000,
    concurrency: wholeNumber(d.concurrency) ?? 32,
    enabled: d.enabled,
  };
  const sni = d.server_name.trim();
  if (sni) body.server_name = sni;
  return body;
}

// ---------------------------------------------------------------------------------------------
// The page: scan targets, then what they found

export function DiscoveryPage() {
  useTitle("Discovery");
  return (
    <section aria-labelledby="discovery-title">
      <h1 id="discovery-title">Discovery</h1>
      <p className="hint">
        The worker connects with TLS to every address and port of each scan target, on its schedule, and records the certificate each
        server presents. Those certctl issued are linked to the inventory (managed); the others wait for someone to claim them (someone
        owns it: its expiry is warned about) or dismiss them (not ours to watch).
      </p>
      <ScanTargets />
      <DiscoveredList />
    </section>
  );
}

function ScanTargets() {
  const { can } = useSession();
  const client = useQueryClient();
  // null: no form open; { target: undefined }: creating; { target }: editing it.
  const [editing, setEditing] = useState<{ target?: ScanTarget } | null>(null);
  const [deleting, setDeleting] = useState<ScanTarget | null>(null);
  const [scanned, setScanned] = useState<string | null>(null);
  const list = useTargets();
  const remove = useMutation({
    mutationFn: (id: string) => deleteScanTarget(id),
    onSuccess: () => {
      setDeleting(null);
      void client.invalidateQueries({ queryKey: ["scan-targets"] });
    },
  });
  const scan = useMutation({
    mutationFn: (t: ScanTarget) => scanTargetNow(t.id),
    onSuccess: (t) => {
      setScanned(t.name);
      void client.invalidateQueries({ queryKey: ["scan-targets"] });
    },
  });
  const denied = can("discovery:manage") ? null : DENIED;

  return (
    <section className="part" aria-labelledby="targets-title">
      <div className="page-head">
        <h2 id="targets-title">Scan targets</h2>
        <Button variant="primary" deniedReason={denied} onClick={() => setEditing({})}>
          Create scan target
        </Button>
      </div>
      <p className="hint" id="targets-help">
        At most 1024 addresses and 32 ports per target, and a scan in which every connection times out must fit in 40 seconds. Deleting a
        target keeps what it found.
      </p>
      {scanned && (
        <p className="alert alert-info" role="status">
          {`A scan of ${scanned} is due now: a worker starts it within seconds.`}
        </p>
      )}
      <ProblemAlert error={list.error ?? scan.error} />
      {list.isPending && <Loading what="Loading scan targets" />}
      {list.data && list.data.data.length === 0 && <Empty>No scan target yet.</Empty>}
      {list.data && list.data.data.length > 0 && (
        <div className="table-wrap">
          <table className="table" aria-labelledby="targets-title" aria-describedby="targets-help">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Ranges</th>
                <th scope="col">Ports</th>
                <th scope="col">Every</th>
                <th scope="col">Last scan</th>
                <th scope="col">Found</th>
                <th scope="col">Last error</th>
                <th scope="col">Next scan</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((t) => (
                <tr key={t.id} data-testid="target-row">
                  <td>
                    {t.name}
                    {!t.enabled && <span className="badge badge-disabled badge-note">disabled</span>}
                    {t.server_name && <div className="hint">{`SNI ${t.server_name}`}</div>}
                  </td>
                  <td className="break">{t.cidrs.join(", ")}</td>
                  <td>{t.ports.join(", ")}</td>
                  <td>{duration(t.interval_seconds)}</td>
                  <td>
                    {scanning(t) ? (
                      <>
                        under way since <When at={t.last_scan_started_at} />
                      </>
                    ) : t.last_scan_finished_at ? (
                      <When at={t.last_scan_finished_at} />
                    ) : (
                      <span className="muted">never</span>
                    )}
                  </td>
                  <td>
                    {t.last_scan_found == null ? (
                      <span className="muted">–</span>
                    ) : (
                      <Link to={`/discovery?target_id=${t.id}`} aria-label={`${plural(t.last_scan_found, "certificate")} found by ${t.name}: list what it found`}>
                        {t.last_scan_found}
                      </Link>
                    )}
                  </td>
                  <td>{t.last_scan_error ? <Truncated text={t.last_scan_error} max={48} /> : <span className="muted">none</span>}</td>
                  <td>
                    {!t.enabled ? (
                      <span className="muted">not scheduled</span>
                    ) : new Date(t.next_scan_at).getTime() <= Date.now() ? (
                      "due now"
                    ) : (
                      <When at={t.next_scan_at} />
                    )}
                  </td>
                  <td>
                    <div className="actions">
                      <Button
                        deniedReason={denied ?? (t.enabled ? null : "The target is disabled: enable it first")}
                        disabled={scan.isPending}
                        aria-label={`Scan ${t.name} now`}
                        onClick={() => {
                          setScanned(null);
                          scan.mutate(t);
                        }}
                      >
                        Scan now
                      </Button>
                      <Button deniedReason={denied} aria-label={`Edit scan target ${t.name}`} onClick={() => setEditing({ target: t })}>
                        Edit
                      </Button>
                      <Button
                        variant="danger"
                        deniedReason={denied}
                        aria-label={`Delete scan target ${t.name}`}
                        onClick={() => {
                          remove.reset();
                          setDeleting(t);
                        }}
                      >
                        Delete
                      </Button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <Dialog
        open={editing !== null}
        title={editing?.target ? `Edit the scan target ${editing.target.name}` : "Create a scan target"}
        onClose={() => setEditing(null)}
      >
        {editing && <TargetForm key={editing.target?.id ?? "new"} target={editing.target} onDone={() => setEditing(null)} />}
      </Dialog>
      <Dialog open={deleting !== null} title="Delete this scan target?" onClose={() => setDeleting(null)}>
        {deleting && (
          <div className="stack">
            <p>{`Delete the scan target ${deleting.name}? It will not be scanned again.`}</p>
            <p>The certificates it found stay in the list below, with where they were seen.</p>
            <ProblemAlert error={remove.error} />
            <div className="actions">
              <Button variant="danger" disabled={remove.isPending} onClick={() => remove.mutate(deleting.id)}>
                Delete target
              </Button>
              <Button onClick={() => setDeleting(null)}>Cancel</Button>
            </div>
          </div>
        )}
      </Dialog>
    </section>
  );
}

function TargetForm({ target, onDone }: { target?: ScanTarget; onDone: () => void }) {
  const client = useQueryClient();
  const formRef = useRef<HTMLFormElement>(null);
  const [d, setD] = useState<TargetDraft>(() => targetDraftOf(target));
  const [errors, setErrors] = useState<TargetErrors>({});
  const save = useMutation({
    mutationFn: (body: Schemas["ScanTargetIn"]) => (target ? replaceScanTarget(target.id, body) : createScanTarget(body)),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["scan-targets"] });
      onDone();
    },
  });
  const set = <K extends keyof TargetDraft>(k: K, v: TargetDraft[K]) => {
    setD((x) => ({ ...x, [k]: v }));
    setErrors((e) => ({ ...e, [k]: undefined }));
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errs = validateTarget(d);
    setErrors(errs);
    if (Object.values(errs).some(Boolean)) return focusFirstInvalid(formRef.current);
    save.mutate(targetBody(d));
  };
  const label = target ? `Edit the scan target ${target.name}` : "Create a scan target";
  const interval = wholeNumber(d.interval_seconds, 10);
  return (
    <form ref={formRef} className="stack wide" onSubmit={submit} noValidate aria-label={label}>
      {target && <p className="hint">Saving replaces the whole target, and its next scan is due at once.</p>}
      <Field label="Name" error={errors.name} hint="Unique; 1–100 characters.">
        {(p) => <input {...p} value={d.name} onChange={(e) => set("name", e.target.value)} autoComplete="off" />}
      </Field>
      <Field
        label="Address ranges"
        error={errors.cidrs}
        hint="One per line or separated by commas: CIDR blocks with their host bits zero (10.20.0.0/24, 2001:db8::/120) or single addresses (192.0.2.7); at most 32 ranges and 1024 addresses in all. Only these addresses are dialled."
      >
        {(p) => <textarea {...p} rows={4} value={d.cidrs} onChange={(e) => set("cidrs", e.target.value)} spellCheck={false} />}
      </Field>
      <Field label="Ports" error={errors.ports} hint="TCP ports spoken TLS on directly, separated by commas, for example 443, 8443; at most 32.">
        {(p) => <input {...p} value={d.ports} onChange={(e) => set("ports", e.target.value)} inputMode="numeric" autoComplete="off" />}
      </Field>
      <Field
        label="Server name (SNI, optional)"
        error={errors.server_name}
        hint="Sent in the handshake, for servers that choose their certificate by name. Empty: no name is sent."
      >
        {(p) => <input {...p} value={d.server_name} onChange={(e) => set("server_name", e.target.value)} autoComplete="off" spellCheck={false} />}
      </Field>
      <div className="checks">
        <Field
          label="Interval (seconds)"
          error={errors.interval_seconds}
          hint={interval !== null ? `Between scans: every ${duration(interval)}.` : "Between scans: at least 10 seconds."}
        >
          {(p) => <input {...p} type="number" min={10} step={1} value={d.interval_seconds} onChange={(e) => set("interval_seconds", e.target.value)} />}
        </Field>
        <Field label="Timeout (ms)" error={errors.timeout_ms} hint="Per connection, handshake included: 100 to 60000.">
          {(p) => <input {...p} type="number" min={100} max={60000} step={1} value={d.timeout_ms} onChange={(e) => set("timeout_ms", e.target.value)} />}
        </Field>
        <Field label="Concurrency" error={errors.concurrency} hint="Connections in flight: 1 to 256.">
          {(p) => <input {...p} type="number" min={1} max={256} step={1} value={d.concurrency} onChange={(e) => set("concurrency", e.target.value)} />}
        </Field>
      </div>
      <Check label="Enabled" checked={d.enabled} onChange={(v) => set("enabled", v)} hint="Scanned on its schedule; a disabled target is kept but not scanned." />
      <SubmitRow error={save.error} pending={save.isPending} label={target ? "Save" : "Create"} onCancel={onDone} />
    </form>
  );
}

// ---------------------------------------------------------------------------------------------
// Discovered certificates

/** The date of a date input as the RFC 3339 instant the API takes: midnight UTC that day. */
const expiringBefore = (date: string) => `${date}T00:00:00Z`;

function DiscoveredList() {
  const [params, setParams] = useSearchParams();
  const rawStatus = params.get("status") ?? "";
  const status = isStatus(rawStatus) ? rawStatus : "";
  const targetId = params.get("target_id") ?? "";
  const expiring = DATE.test(params.get("expiring_before") ?? "") ? (params.get("expiring_before") as string) : "";
  const [searchText, setSearchText] = useState(params.get("q") ?? "");
  const search = useDebounced(searchText.trim());
  const targets = useTargets();

  const filters = { status, targetId, expiring, search };
  const cursors = useCursors(JSON.stringify(filters));
  const query: DiscoveredQuery = {
    status: status || undefined,
    target_id: targetId || undefined,
    expiring_before: expiring ? expiringBefore(expiring) : undefined,
    q: search || undefined,
    cursor: cursors.cursor,
    limit: 50,
  };
  const list = useQuery({
    queryKey: ["discovered", "list", filters, cursors.cursor ?? null],
    queryFn: () => listDiscovered(query),
    placeholderData: keepPreviousData,
  });

  const setFilter = useUrlFilters(setParams, params, search);

  return (
    <section className="part" aria-labelledby="discovered-title">
      <h2 id="discovered-title">Discovered certificates</h2>
      <form className="filters filter-bar" role="search" aria-label="Filter discovered certificates" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status{" "}
          <select value={status} onChange={(e) => setFilter("status", e.target.value)}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Scan target{" "}
          <select value={targetId} onChange={(e) => setFilter("target_id", e.target.value)}>
            <option value="">any</option>
            {targets.data?.data.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
            {targetId && targets.data && !targets.data.data.some((t) => t.id === targetId) && <option value={targetId}>a deleted target</option>}
          </select>
        </label>
        <label>
          Expiring before{" "}
          <input type="date" value={expiring} onChange={(e) => setFilter("expiring_before", DATE.test(e.target.value) ? e.target.value : "")} />
        </label>
        <label>
          Search{" "}
          <input
            type="search"
            value={searchText}
            onChange={(e) => setSearchText(e.target.value)}
            placeholder="subject, issuer or SAN contains…"
            spellCheck={false}
            autoComplete="off"
          />
        </label>
      </form>
      <p className="hint" id="discovered-help">
        Newest discoveries first. Unmanaged: nobody has decided; claimed: someone owns it; both are warned about before they expire.
        Dismissed: not ours to watch. Managed: certctl issued it, and the inventory watches it.
      </p>

      <ProblemAlert error={list.error} />
      {list.isPending && <Loading what="Loading discovered certificates" />}
      {list.data && list.data.data.length === 0 && <Empty>No discovered certificate matches these filters.</Empty>}
      {list.data && list.data.data.length > 0 && (
        <div className="table-wrap">
          <table className="table" aria-labelledby="discovered-title" aria-describedby="discovered-help" aria-busy={list.isPlaceholderData || undefined}>
            <thead>
              <tr>
                <th scope="col">Status</th>
                <th scope="col">Subject</th>
                <th scope="col">Issuer</th>
                <th scope="col">Not after</th>
                <th scope="col">Self-signed</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((c) => (
                <tr key={c.id} data-testid="discovered-row">
                  <td>
                    <DiscoveryBadge status={c.status} />
                  </td>
                  <td className="break">
                    <Link to={`/discovery/${c.id}`}>{discoveredName(c)}</Link>
                    {c.common_name && c.subject && c.subject !== `CN=${c.common_name}` && <div className="hint">{c.subject}</div>}
                  </td>
                  <td>
                    <Truncated text={c.issuer} max={48} />
                  </td>
                  <td>
                    <When at={c.not_after} />
                    {c.expired && <span className="badge badge-expired badge-note">expired</span>}
                  </td>
                  <td>{yesNo(c.self_signed)}</td>
                  <td>
                    <When at={c.last_seen_at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager page={list.data} cursors={cursors} />
    </section>
  );
}

// ---------------------------------------------------------------------------------------------
// One discovered certificate

export function DiscoveredCertificatePage({ id: idProp }: { id?: string } = {}) {
  const params = useParams();
  const id = idProp ?? params.id ?? "";
  // Keyed by id: another certificate starts afresh, without the last one's note or outcome.
  return <DiscoveredDetail key={id} id={id} />;
}

function DiscoveredDetail({ id }: { id: string }) {
  const { can } = useSession();
  const cert = useQuery({ queryKey: ["discovered", id], queryFn: () => getDiscovered(id), enabled: id !== "" });
  const targets = useTargets();
  const headingId = useId();
  const endpointsId = useId();
  useTitle(cert.data ? discoveredName(cert.data) : "Discovered certificate");

  if (cert.isPending && id) return <Loading what="Loading the discovered certificate" />;
  if (cert.error || !cert.data)
    return (
      <section>
        <h1>Discovered certificate</h1>
        <ProblemAlert error={cert.error ?? new Error("No discovered certificate id in the address.")} />
        <Link to="/discovery">All discovered certificates</Link>
      </section>
    );
  const c = cert.data;
  const targetNames = new Map(targets.data?.data.map((t) => [t.id, t.name]) ?? []);
  const managed = c.status === "managed";

  return (
    <section className="detail" aria-labelledby={headingId}>
      <p className="crumbs">
        <Link to="/discovery">Discovery</Link> /
      </p>
      <div className="page-head">
        <h1 id={headingId}>{discoveredName(c)}</h1>
      </div>

      <dl className="fields">
        <dt>Status</dt>
        <dd>
          <DiscoveryBadge status={c.status} /> {isStatus(c.status) && <span className="muted">{DISCOVERY_STATUSES[c.status]}</span>}
        </dd>
        {c.certificate_id && (
          <>
            <dt>In the inventory</dt>
            <dd>
              <Link to={`/certificates/${c.certificate_id}`}>Open the inventory certificate</Link>
            </dd>
          </>
        )}
        <dt>Subject</dt>
        <dd>{c.subject || <span className="muted">–</span>}</dd>
        <dt>Common name</dt>
        <dd>{c.common_name || <span className="muted">–</span>}</dd>
        <dt>SANs</dt>
        <dd>{c.sans.length ? <ul className="plain">{c.sans.map((s) => <li key={s}>{s}</li>)}</ul> : <span className="muted">–</span>}</dd>
        <dt>Issuer</dt>
        <dd>{c.issuer || <span className="muted">–</span>}</dd>
        <dt>Self-signed</dt>
        <dd>{yesNo(c.self_signed)}</dd>
        <dt>Valid from</dt>
        <dd>
          <When at={c.not_before} />
        </dd>
        <dt>Valid until</dt>
        <dd>
          <When at={c.not_after} />
          {c.expired && <span className="badge badge-expired badge-note">expired</span>}
        </dd>
        <dt>Serial</dt>
        <dd className="mono serial">{c.serial_hex}</dd>
        <dt>SHA-256 fingerprint</dt>
        <dd className="mono serial">{c.fingerprint_sha256}</dd>
        <dt>Key algorithm</dt>
        <dd>{c.key_algorithm}</dd>
        <dt>First seen</dt>
        <dd>
          <When at={c.first_seen_at} />
        </dd>
        <dt>Last seen</dt>
        <dd>
          <When at={c.last_seen_at} />
        </dd>
        {(c.decided_by || c.decided_at) && (
          <>
            <dt>Decided</dt>
            <dd>
              {c.decided_by ?? "–"}, <When at={c.decided_at} />
            </dd>
          </>
        )}
        {c.note && (
          <>
            <dt>Note</dt>
            <dd>{c.note}</dd>
          </>
        )}
        {can("audit:read") && (
          <>
            <dt>Audit trail</dt>
            <dd>
              <Link to={`/audit?resource_type=discovered_certificate&resource_id=${c.id}`}>Decisions about this certificate</Link>
            </dd>
          </>
        )}
      </dl>

      {managed ? (
        <p className="alert alert-info">
          certctl issued this certificate: it is renewed and warned about through the inventory, so it is neither claimed nor dismissed.
        </p>
      ) : (
        can("certificates:write") && <Decide cert={c} />
      )}

      <h2 id={endpointsId}>Where it was seen</h2>
      {c.endpoints && c.endpoints.length > 0 ? (
        <div className="table-wrap">
          <table className="table" aria-labelledby={endpointsId}>
            <thead>
              <tr>
                <th scope="col">Address</th>
                <th scope="col">Port</th>
                <th scope="col">Server name (SNI)</th>
                <th scope="col">Scan target</th>
                <th scope="col">First seen</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {c.endpoints.map((e) => (
                <tr key={`${e.address}|${e.port}|${e.server_name}`} data-testid="endpoint-row">
                  <td className="mono">{e.address}</td>
                  <td>{e.port}</td>
                  <td>{e.server_name || <span className="muted">none</span>}</td>
                  <td>
                    {e.target_id ? (
                      targetNames.get(e.target_id) ?? <span className="muted">a deleted target</span>
                    ) : (
                      <span className="muted">–</span>
                    )}
                  </td>
                  <td>
                    <When at={e.first_seen_at} />
                  </td>
                  <td>
                    <When at={e.last_seen_at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <Empty>No endpoint recorded.</Empty>
      )}

      <h2>PEM</h2>
      <div className="stack">
        <Field label="Certificate (PEM)">
          {(p) => <textarea {...p} className="pem-view" readOnly rows={10} value={c.certificate_pem ?? ""} spellCheck={false} />}
        </Field>
        {c.chain_pem ? (
          <Field label="Chain sent after it (PEM)">
            {(p) => <textarea {...p} className="pem-view" readOnly rows={10} value={c.chain_pem ?? ""} spellCheck={false} />}
          </Field>
        ) : (
          <p className="hint">The server sent no chain after the certificate.</p>
        )}
      </div>
    </section>
  );
}

/** Claim or dismiss, with an optional note; deciding again replaces the decision. */
function Decide({ cert: c }: { cert: DiscoveredCertificate }) {
  const client = useQueryClient();
  const [note, setNote] = useState("");
  const titleId = useId();
  const decide = useMutation({
    mutationFn: ({ claim, note: n }: { claim: boolean; note: string }) => (claim ? claimDiscovered(c.id, n.trim() || undefined) : dismissDiscovered(c.id, n.trim() || undefined)),
    onSuccess: () => {
      setNote("");
      // The answer has no endpoints or PEM: read the certificate again, and the lists.
      void client.invalidateQueries({ queryKey: ["discovered"] });
    },
  });
  const decided = c.status === "claimed" || c.status === "dismissed";
  return (
    <div className="decide-panel" role="group" aria-labelledby={titleId}>
      <h2 id={titleId}>Decide</h2>
      <p className="hint">
        Claim: someone owns this certificate, and its expiry is warned about. Dismiss: it is not ours to watch, and no warning is sent.
        {decided && " Deciding again replaces the decision and its note."}
      </p>
      {decide.isSuccess && (
        <p className="alert alert-info" role="status">
          {decide.data.status === "claimed" ? "Claimed: its expiry is warned about." : "Dismissed: no expiry warning will be sent."}
        </p>
      )}
      <Field label="Note (optional)" hint="Kept with the decision and in the audit log; at most 2000 characters.">
        {(p) => <textarea {...p} rows={2} maxLength={2000} value={note} onChange={(e) => setNote(e.target.value)} />}
      </Field>
      <ProblemAlert error={decide.error} />
      <div className="actions">
        <Button variant="primary" disabled={decide.isPending} onClick={() => decide.mutate({ claim: true, note })}>
          Claim
        </Button>
        <Button disabled={decide.isPending} onClick={() => decide.mutate({ claim: false, note })}>
          Dismiss
        </Button>
      </div>
    </div>
  );
}
