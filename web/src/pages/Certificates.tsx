// Certificates: the list (filters, cursor pagination, newest first), one certificate's details with
// renew / revoke / PEM download and its renewal (window, policy), issuance, and bulk revocation for
// admins.
//
// The list's filters live in the URL (`?status=…&issuer_id=…`), so a link from an issuer or profile
// can open the list filtered, and Back returns to the same filters. The API has no sort parameter:
// it answers newest first, and "what expires soonest" is asked with the "Expiring before" filter,
// never by re-sorting one page in the browser.

import { useId, useRef, useState, type FormEvent } from "react";
import { keepPreviousData, useMutation, useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams, useSearchParams } from "react-router";

import {
  bulkRevoke,
  getCertificate,
  getCertificatePem,
  isAwaiting,
  issueCertificate,
  listCertificates,
  listIssuers,
  listProfiles,
  listRenewalPolicies,
  renewCertificate,
  revokeCertificate,
  setCertificatePolicy,
  type AwaitingApproval,
  type Certificate,
  type CertificateQuery,
  type CertificateStatus,
  type Issued,
  type Issuer,
  type KeyAlgorithm,
  type Profile,
  type RenewalPolicy,
  type RevocationReason,
  type Schemas,
} from "../api/client";
import { useSession } from "../auth/session";
import {
  CERTIFICATE_STATUSES,
  Field,
  KEY_ALGORITHMS,
  LIVE_STATUSES,
  Pager,
  Pre,
  REVOCATION_REASONS,
  RadioGroup,
  download,
  duration,
  fileName,
  focusFirstInvalid,
  keysOf,
  lines,
  plural,
  statusText,
  useCursors,
  useDebounced,
  useTitle,
  useUrlFilters,
  wholeNumber,
} from "../components/forms";
import { Button, Dialog, Empty, Loading, ProblemAlert, When } from "../components/ui";

const STATUSES = keysOf(CERTIFICATE_STATUSES);
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Renewal is refused only for certificates already renewed or revoked. */
const renewable = (s: CertificateStatus) => s !== "renewed" && s !== "revoked";

/**
 * The status a person reads: a live certificate past its not_after shows as "expired" (the
 * renewal loop marks it so within a tick).
 */
export function shownStatus(c: Pick<Certificate, "status" | "expired">): CertificateStatus {
  return LIVE_STATUSES.includes(c.status) && c.expired ? "expired" : c.status;
}

export function StatusBadge({ cert }: { cert: Pick<Certificate, "status" | "expired"> }) {
  const s = shownStatus(cert);
  return (
    <span className={`badge badge-${s}`} title={CERTIFICATE_STATUSES[s]}>
      {statusText(s)}
    </span>
  );
}

/** The date of a date input as the RFC 3339 instant the API takes: midnight UTC that day. */
export const expiringBefore = (date: string) => `${date}T00:00:00Z`;

const useIssuers = () => useQuery({ queryKey: ["issuers"], queryFn: () => listIssuers() });
const useProfiles = () => useQuery({ queryKey: ["profiles"], queryFn: () => listProfiles() });
const names = <T extends { id: string; name: string }>(rows: T[] | undefined) => new Map((rows ?? []).map((r) => [r.id, r.name]));

// ---------------------------------------------------------------------------------------------
// List

export function CertificatesPage() {
  useTitle("Certificates");
  const { can } = useSession();
  const [params, setParams] = useSearchParams();
  // One state or several, comma-separated as the API takes them; a list with an unknown word is
  // ignored whole rather than half-applied.
  const words = (params.get("status") ?? "").split(",");
  const statuses = words.every((w) => (STATUSES as string[]).includes(w)) ? (words as CertificateStatus[]) : [];
  const status = statuses.join(",");
  const issuerId = params.get("issuer_id") ?? "";
  const profileId = params.get("profile_id") ?? "";
  const expiring = DATE.test(params.get("expiring_before") ?? "") ? (params.get("expiring_before") as string) : "";
  const sort = params.get("sort") === "expiry" ? "expiry" : "newest";
  const [searchText, setSearchText] = useState(params.get("q") ?? "");
  const search = useDebounced(searchText.trim());
  const [issuing, setIssuing] = useState(false);
  const [bulk, setBulk] = useState(false);

  const filters = { status, issuerId, profileId, expiring, search, sort };
  const cursors = useCursors(JSON.stringify(filters));
  const query: CertificateQuery = {
    status: statuses.length > 0 ? statuses : undefined,
    issuer_id: issuerId || undefined,
    profile_id: profileId || undefined,
    expiring_before: expiring ? expiringBefore(expiring) : undefined,
    q: search || undefined,
    sort: sort === "expiry" ? "expiry" : undefined,
    cursor: cursors.cursor,
    limit: 50,
  };
  const list = useQuery({
    queryKey: ["certificates", "list", filters, cursors.cursor ?? null],
    queryFn: () => listCertificates(query),
    placeholderData: keepPreviousData,
  });
  const issuers = useIssuers();
  const profiles = useProfiles();
  const issuerNames = names(issuers.data?.data);

  const setFilter = useUrlFilters(setParams, params, search);

  return (
    <section aria-labelledby="certificates-title">
      <div className="page-head">
        <h1 id="certificates-title">Certificates</h1>
        <div className="actions">
          {can("certificates:write") && (
            <Button variant="primary" onClick={() => setIssuing(true)}>
              Issue certificate
            </Button>
          )}
          {can("certificates:bulk_revoke") && (
            <Button variant="danger" onClick={() => setBulk(true)}>
              Bulk revoke…
            </Button>
          )}
        </div>
      </div>

      <form className="filters filter-bar" role="search" aria-label="Filter certificates" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status{" "}
          <select value={status} onChange={(e) => setFilter("status", e.target.value)}>
            <option value="">any</option>
            <option value={LIVE_STATUSES.join(",")}>live (active, expiring, being renewed)</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusText(s)}
              </option>
            ))}
            {statuses.length > 1 && status !== LIVE_STATUSES.join(",") && <option value={status}>{statuses.map(statusText).join(", ")}</option>}
          </select>
        </label>
        <label>
          Issuer{" "}
          <select value={issuerId} onChange={(e) => setFilter("issuer_id", e.target.value)}>
            <option value="">any</option>
            {issuers.data?.data.map((i) => (
              <option key={i.id} value={i.id}>
                {i.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Profile{" "}
          <select value={profileId} onChange={(e) => setFilter("profile_id", e.target.value)}>
            <option value="">any</option>
            {profiles.data?.data.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Expiring before{" "}
          <input type="date" value={expiring} onChange={(e) => setFilter("expiring_before", DATE.test(e.target.value) ? e.target.value : "")} />
        </label>
        <label>
          Order{" "}
          <select value={sort} onChange={(e) => setFilter("sort", e.target.value === "expiry" ? "expiry" : "")}>
            <option value="newest">newest first</option>
            <option value="expiry">soonest expiry first</option>
          </select>
        </label>
        <label>
          Search names{" "}
          <input
            type="search"
            value={searchText}
            onChange={(e) => setSearchText(e.target.value)}
            placeholder="common name or SAN contains…"
            spellCheck={false}
            autoComplete="off"
          />
        </label>
      </form>
      <p className="hint" id="certificates-order">
        “Soonest expiry first” with status “live” lists what still has to be renewed, and with “expiring” what waits for someone to renew it; “Expiring before” narrows it to a date.
        “Search names” finds certificates whose common name or any SAN contains the text, in any case.
      </p>

      <ProblemAlert error={list.error ?? issuers.error ?? profiles.error} />
      {list.isPending && <Loading what="Loading certificates" />}
      {list.data && list.data.data.length === 0 && <Empty>No certificate matches these filters.</Empty>}
      {list.data && list.data.data.length > 0 && (
        <div className="table-wrap">
          <table className="table" aria-describedby="certificates-order" aria-busy={list.isPlaceholderData || undefined}>
            <thead>
              <tr>
                <th scope="col">Common name</th>
                <th scope="col">Status</th>
                <th scope="col">Not after</th>
                <th scope="col">Serial</th>
                <th scope="col">Issuer</th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((c) => (
                <tr key={c.id} data-testid="certificate-row">
                  <td>
                    <Link to={`/certificates/${c.id}`}>{c.common_name}</Link>
                  </td>
                  <td>
                    <StatusBadge cert={c} />
                  </td>
                  <td>
                    <When at={c.not_after} />
                  </td>
                  <td className="mono serial">{c.serial_hex}</td>
                  <td>{issuerNames.get(c.issuer_id) ?? <span className="mono">{c.issuer_id}</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager page={list.data} cursors={cursors} />

      <Dialog open={issuing} title="Issue a certificate" onClose={() => setIssuing(false)}>
        <IssueForm issuers={issuers.data?.data ?? []} profiles={profiles.data?.data ?? []} onDone={() => setIssuing(false)} />
      </Dialog>
      <Dialog open={bulk} title="Bulk revoke" onClose={() => setBulk(false)}>
        <BulkRevokeForm issuers={issuers.data?.data ?? []} profiles={profiles.data?.data ?? []} onDone={() => setBulk(false)} />
      </Dialog>
    </section>
  );
}

// ---------------------------------------------------------------------------------------------
// Issue

export type KeySource = "generate" | "csr";
const KEY_SOURCES: Record<KeySource, string> = { generate: "Generate the key on the server", csr: "Use my CSR" };

export interface IssueDraft {
  issuer_id: string;
  profile_id: string;
  common_name: string;
  sans: string;
  lifetime_days: string;
  source: KeySource;
  key_algorithm: KeyAlgorithm | "";
  csr: string;
}

export type IssueErrors = Partial<Record<keyof IssueDraft, string>>;

/** What is wrong with the form, field by field; empty when it can be sent. */
export function validateIssue(d: IssueDraft): IssueErrors {
  const e: IssueErrors = {};
  if (!d.issuer_id) e.issuer_id = "Choose an issuer";
  if (!d.profile_id) e.profile_id = "Choose a profile";
  const cn = d.common_name.trim();
  if (!cn) e.common_name = "Common name is required";
  else if (cn.length > 64) e.common_name = "Common name must be at most 64 characters";
  if (d.lifetime_days.trim() !== "" && wholeNumber(d.lifetime_days) === null) e.lifetime_days = "Lifetime must be a positive whole number of days";
  if (d.source === "generate" && !d.key_algorithm) e.key_algorithm = "Choose a key algorithm";
  if (d.source === "csr") {
    if (!d.csr.trim()) e.csr = "Paste your CSR (PEM)";
    else if (!d.csr.includes("BEGIN CERTIFICATE REQUEST")) e.csr = "This is not a PEM CSR: it must contain “-----BEGIN CERTIFICATE REQUEST-----”";
  }
  return e;
}

/** The request body: exactly one key source, the other left out. */
export function issueBody(d: IssueDraft): Schemas["IssueIn"] {
  const body: Schemas["IssueIn"] = { issuer_id: d.issuer_id, profile_id: d.profile_id, common_name: d.common_name.trim() };
  const sans = lines(d.sans);
  if (sans.length) body.sans = sans;
  const days = wholeNumber(d.lifetime_days);
  if (days !== null) body.ttl_seconds = days * 86_400;
  if (d.source === "csr") body.csr_pem = d.csr;
  else body.key_algorithm = d.key_algorithm as KeyAlgorithm;
  return body;
}

export function IssueForm({ issuers, profiles, onDone }: { issuers: Issuer[]; profiles: Profile[]; onDone: () => void }) {
  const client = useQueryClient();
  const formRef = useRef<HTMLFormElement>(null);
  const [draft, setDraft] = useState<IssueDraft>({
    issuer_id: "",
    profile_id: "",
    common_name: "",
    sans: "",
    lifetime_days: "",
    source: "generate",
    key_algorithm: "ecdsa-p256",
    csr: "",
  });
  const [errors, setErrors] = useState<IssueErrors>({});
  const issue = useMutation({
    mutationFn: (body: Schemas["IssueIn"]) => issueCertificate(body),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["certificates"] });
      void client.invalidateQueries({ queryKey: ["jobs"] });
      void client.invalidateQueries({ queryKey: ["summary"] });
    },
  });
  const set = <K extends keyof IssueDraft>(k: K, v: IssueDraft[K]) => {
    setDraft((d) => ({ ...d, [k]: v }));
    if (errors[k]) setErrors((e) => ({ ...e, [k]: undefined }));
  };
  const profile = profiles.find((p) => p.id === draft.profile_id);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errs = validateIssue(draft);
    setErrors(errs);
    if (Object.values(errs).some(Boolean)) {
      focusFirstInvalid(formRef.current);
      return;
    }
    issue.mutate(issueBody(draft));
  };

  if (issue.data) return <IssueResult result={issue.data} onDone={onDone} />;

  return (
    <form ref={formRef} className="stack wide" onSubmit={submit} noValidate aria-label="Issue a certificate">
      {issuers.length === 0 && <p className="alert alert-info">There is no issuer yet: an admin must create one first.</p>}
      <Field label="Issuer" error={errors.issuer_id}>
        {(p) => (
          <select {...p} value={draft.issuer_id} onChange={(e) => set("issuer_id", e.target.value)} required>
            <option value="">Select an issuer</option>
            {issuers.map((i) => (
              <option key={i.id} value={i.id}>
                {i.name} ({i.common_name}){i.disabled_at ? ", disabled" : ""}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field
        label="Profile"
        error={errors.profile_id}
        hint={
          profile &&
          `Keys: ${profile.allowed_key_algorithms.join(", ")}; at most ${duration(profile.max_ttl_seconds)}${
            profile.requires_approval ? "; needs approval, so only a CSR is accepted" : ""
          }.`
        }
      >
        {(p) => (
          <select {...p} value={draft.profile_id} onChange={(e) => set("profile_id", e.target.value)} required>
            <option value="">Select a profile</option>
            {profiles.map((pr) => (
              <option key={pr.id} value={pr.id}>
                {pr.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Common name" error={errors.common_name} hint="A DNS name (or an IP address if the profile allows them); always added to the SANs.">
        {(p) => (
          <input {...p} value={draft.common_name} onChange={(e) => set("common_name", e.target.value)} required maxLength={64} spellCheck={false} autoComplete="off" />
        )}
      </Field>
      <Field label="Subject alternative names" error={errors.sans} hint="One DNS name or IP address per line.">
        {(p) => <textarea {...p} rows={3} value={draft.sans} onChange={(e) => set("sans", e.target.value)} spellCheck={false} />}
      </Field>
      <Field label="Lifetime (days)" error={errors.lifetime_days} hint="Optional: the profile's maximum when left empty.">
        {(p) => <input {...p} type="number" min={1} step={1} inputMode="numeric" value={draft.lifetime_days} onChange={(e) => set("lifetime_days", e.target.value)} />}
      </Field>
      <RadioGroup legend="Key source" name="key-source" options={KEY_SOURCES} value={draft.source} onChange={(v) => set("source", v)} />
      {draft.source === "generate" ? (
        <Field label="Key algorithm" error={errors.key_algorithm} hint="The private key is returned once, in the answer, and is not stored.">
          {(p) => (
            <select {...p} value={draft.key_algorithm} onChange={(e) => set("key_algorithm", e.target.value as KeyAlgorithm)}>
              {keysOf(KEY_ALGORITHMS).map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
          )}
        </Field>
      ) : (
        <Field label="CSR (PEM)" error={errors.csr} hint="A PKCS#10 request; only its public key is used, its subject is ignored.">
          {(p) => (
            <textarea
              {...p}
              rows={8}
              value={draft.csr}
              onChange={(e) => set("csr", e.target.value)}
              placeholder="-----BEGIN CERTIFICATE REQUEST-----"
              spellCheck={false}
            />
          )}
        </Field>
      )}
      <ProblemAlert error={issue.error} />
      <div className="actions">
        <Button type="submit" variant="primary" disabled={issue.isPending}>
          Issue
        </Button>
        <Button onClick={onDone}>Cancel</Button>
      </div>
    </form>
  );
}

function IssueResult({ result, onDone }: { result: Issued | AwaitingApproval; onDone: () => void }) {
  if (isAwaiting(result)) return <AwaitingNotice job={result} onDone={onDone} />;
  return (
    <div className="stack wide">
      <p className="alert alert-info" role="status">
        {`Issued ${result.common_name}`}, valid until <When at={result.not_after} />.{" "}
        <Link to={`/certificates/${result.id}`} onClick={onDone}>
          Open the certificate
        </Link>
      </p>
      {result.private_key_pem && (
        <>
          <div className="alert alert-warn" role="alert">
            <strong>Save the private key now.</strong> certctl does not store it: it is shown this once and cannot be fetched
            again. Closing this dialog discards it.
          </div>
          <h3>Private key</h3>
          <Pre label="Private key (PEM)">{result.private_key_pem}</Pre>
          <div className="actions">
            <Button variant="primary" onClick={() => download(fileName(result.common_name, "key"), result.private_key_pem ?? "")}>
              Download key
            </Button>
          </div>
        </>
      )}
      <h3>Certificate</h3>
      <Pre label="Certificate (PEM)">{result.certificate_pem}</Pre>
      <div className="actions">
        <Button
          onClick={() =>
            download(fileName(result.common_name, "pem"), `${result.certificate_pem ?? ""}${result.chain_pem}`, "application/pem-certificate-chain")
          }
        >
          Download PEM chain
        </Button>
        <Button onClick={onDone}>Done</Button>
      </div>
    </div>
  );
}

function AwaitingNotice({ job, onDone }: { job: AwaitingApproval; onDone?: () => void }) {
  return (
    <div className="alert alert-info" role="status">
      <p>{`Waiting for approval: job ${job.job_id}`}</p>
      <p>
        The profile requires a second person to approve it.{" "}
        <Link to="/approvals" onClick={onDone}>
          Go to Approvals
        </Link>
      </p>
      {onDone && <Button onClick={onDone}>Done</Button>}
    </div>
  );
}

// ---------------------------------------------------------------------------------------------
// Bulk revoke

interface Criteria {
  issuer_id: string;
  profile_id: string;
}

/** The states whose certificates a bulk revocation counts as "will be revoked": live or expired. */
const PREVIEW_STATUSES: CertificateStatus[] = [...LIVE_STATUSES, "expired"];

export function BulkRevokeForm({ issuers, profiles, onDone }: { issuers: Issuer[]; profiles: Profile[]; onDone: () => void }) {
  const client = useQueryClient();
  const [criteria, setCriteria] = useState<Criteria>({ issuer_id: "", profile_id: "" });
  const [reason, setReason] = useState<RevocationReason>("unspecified");
  const [previewFor, setPreviewFor] = useState<Criteria | null>(null);
  const [error, setError] = useState<string | null>(null);
  // The preview counts, state by state, what the revocation would reach: every certificate not yet
  // revoked. The live and expired ones are "will be revoked"; renewed ones (already replaced, but
  // valid until they expire) are named apart.
  const counts = useQueries({
    queries: [...PREVIEW_STATUSES, "renewed" as const].map((status) => ({
      queryKey: ["certificates", "bulk-preview", status, previewFor],
      queryFn: () =>
        listCertificates({ status: [status], issuer_id: previewFor?.issuer_id || undefined, profile_id: previewFor?.profile_id || undefined, limit: 1 }),
      enabled: previewFor !== null,
      staleTime: 0,
    })),
  });
  const current = counts.slice(0, PREVIEW_STATUSES.length);
  const renewed = counts[PREVIEW_STATUSES.length];
  const revoke = useMutation({
    mutationFn: (body: Schemas["BulkRevokeIn"]) => bulkRevoke(body),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["certificates"] });
      void client.invalidateQueries({ queryKey: ["certificate"] });
      void client.invalidateQueries({ queryKey: ["summary"] });
    },
  });
  const change = (c: Criteria) => {
    setCriteria(c);
    setPreviewFor(null);
    setError(null);
  };
  const preview = (e: FormEvent) => {
    e.preventDefault();
    if (!criteria.issuer_id && !criteria.profile_id) {
      setError("Choose an issuer, a profile or both: bulk revocation never means “everything”.");
      return;
    }
    setPreviewFor(criteria);
  };

  if (revoke.data) {
    const r = revoke.data;
    return (
      <div className="stack">
        <p className="alert alert-info" role="status">
          {`${plural(r.revoked, "certificate")} revoked.`}
        </p>
        <dl className="fields">
          <dt>Matched</dt>
          <dd>{r.matched}</dd>
          <dt>Revoked</dt>
          <dd>{r.revoked}</dd>
          <dt>Skipped (already revoked)</dt>
          <dd>{r.skipped}</dd>
          <dt>Failed</dt>
          <dd>{r.failed}</dd>
          {r.not_found.length > 0 && (
            <>
              <dt>Not found</dt>
              <dd className="mono">{r.not_found.join(", ")}</dd>
            </>
          )}
        </dl>
        <div className="actions">
          <Button onClick={onDone}>Done</Button>
        </div>
      </div>
    );
  }

  const counted = current.every((c) => c.data);
  const n = counted ? current.reduce((sum, c) => sum + (c.data?.total ?? 0), 0) : undefined;
  const m = renewed?.data?.total ?? 0;
  const countError = counts.find((c) => c.error)?.error;
  // Above 10,000 matches the API estimates; say so rather than print a figure as if counted.
  const about = (estimated?: boolean) => (estimated ? "about " : "");
  return (
    <form className="stack" onSubmit={preview} noValidate aria-label="Bulk revoke">
      <p className="hint">Revokes every certificate matching all the chosen criteria. Revocation is final.</p>
      <Field label="Issuer" error={error}>
        {(p) => (
          <select {...p} value={criteria.issuer_id} onChange={(e) => change({ ...criteria, issuer_id: e.target.value })}>
            <option value="">any issuer</option>
            {issuers.map((i) => (
              <option key={i.id} value={i.id}>
                {i.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Profile">
        {(p) => (
          <select {...p} value={criteria.profile_id} onChange={(e) => change({ ...criteria, profile_id: e.target.value })}>
            <option value="">any profile</option>
            {profiles.map((pr) => (
              <option key={pr.id} value={pr.id}>
                {pr.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <ReasonSelect value={reason} onChange={setReason} />
      {!previewFor && (
        <div className="actions">
          <Button type="submit" variant="primary">
            Preview
          </Button>
          <Button onClick={onDone}>Cancel</Button>
        </div>
      )}
      {previewFor && (
        <>
          <ProblemAlert error={countError ?? revoke.error} />
          {!counted && !countError && <Loading what="Counting matching certificates" />}
          {n !== undefined && (
            <div className="alert alert-warn" role="status">
              <p>
                {n + m === 0
                  ? "No certificate left to revoke matches: nothing would be revoked."
                  : `${about(current.some((c) => c.data?.total_estimated))}${plural(n, "certificate")} will be revoked`}
              </p>
              {m > 0 && (
                <p>{`${about(renewed?.data?.total_estimated)}${plural(m, "renewed certificate")} (already replaced by their renewal) also match and will be revoked as well.`}</p>
              )}
            </div>
          )}
          <div className="actions">
            {n !== undefined && n + m > 0 && (
              <Button
                variant="danger"
                disabled={revoke.isPending}
                onClick={() =>
                  revoke.mutate({
                    reason,
                    ...(previewFor.issuer_id ? { issuer_id: previewFor.issuer_id } : {}),
                    ...(previewFor.profile_id ? { profile_id: previewFor.profile_id } : {}),
                  })
                }
              >
                {`Revoke ${plural(n + m, "certificate")}`}
              </Button>
            )}
            <Button onClick={onDone}>Cancel</Button>
          </div>
        </>
      )}
    </form>
  );
}

function ReasonSelect({ value, onChange }: { value: RevocationReason; onChange: (r: RevocationReason) => void }) {
  return (
    <Field
      label="Reason"
      hint={value === "keyCompromise" ? "keyCompromise also blocks the public key: no certificate for it is ever issued or renewed again." : undefined}
    >
      {(p) => (
        <select {...p} value={value} onChange={(e) => onChange(e.target.value as RevocationReason)}>
          {keysOf(REVOCATION_REASONS).map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

// ---------------------------------------------------------------------------------------------
// Detail

export function CertificateDetailPage({ id: idProp }: { id?: string } = {}) {
  const params = useParams();
  const id = idProp ?? params.id ?? "";
  // Keyed by id: following a renewal link starts afresh, without the last page's dialogs or results.
  return <CertificateDetail key={id} id={id} />;
}

function CertificateDetail({ id }: { id: string }) {
  const { can } = useSession();
  const client = useQueryClient();
  const cert = useQuery({ queryKey: ["certificate", id], queryFn: () => getCertificate(id), enabled: id !== "" });
  const issuers = useIssuers();
  const profiles = useProfiles();
  const [revoking, setRevoking] = useState(false);
  const [renewing, setRenewing] = useState(false);
  const [reason, setReason] = useState<RevocationReason>("unspecified");
  const headingId = useId();
  useTitle(cert.data ? cert.data.common_name : "Certificate");

  const refresh = () => {
    void client.invalidateQueries({ queryKey: ["certificate"] });
    void client.invalidateQueries({ queryKey: ["certificates"] });
    void client.invalidateQueries({ queryKey: ["summary"] });
  };
  const revoke = useMutation({
    mutationFn: (r: RevocationReason) => revokeCertificate(id, { reason: r }),
    onSuccess: () => {
      setRevoking(false);
      refresh();
    },
  });
  const renew = useMutation({
    mutationFn: () => renewCertificate(id),
    onSuccess: () => {
      setRenewing(false);
      refresh();
      void client.invalidateQueries({ queryKey: ["jobs"] });
    },
  });
  const pem = useMutation({
    mutationFn: (certId: string) => getCertificatePem(certId),
    onSuccess: (text) => download(fileName(cert.data?.common_name ?? id, "pem"), text, "application/pem-certificate-chain"),
  });

  if (cert.isPending && id) return <Loading what="Loading the certificate" />;
  if (cert.error || !cert.data)
    return (
      <section>
        <h1>Certificate</h1>
        <ProblemAlert error={cert.error ?? new Error("No certificate id in the address.")} />
        <Link to="/certificates">All certificates</Link>
      </section>
    );
  const c = cert.data;
  const issuer = issuers.data?.data.find((i) => i.id === c.issuer_id);
  const profile = profiles.data?.data.find((p) => p.id === c.profile_id);
  const writable = can("certificates:write");

  return (
    <section className="detail" aria-labelledby={headingId}>
      <p className="crumbs">
        <Link to="/certificates">Certificates</Link> /
      </p>
      <div className="page-head">
        <h1 id={headingId}>{c.common_name}</h1>
        <div className="actions">
          <Button onClick={() => pem.mutate(c.id)} disabled={pem.isPending}>
            Download PEM chain
          </Button>
          {writable && (
            <Button
              onClick={() => {
                renew.reset();
                setRenewing(true);
              }}
              deniedReason={renewable(c.status) ? null : `A ${statusText(c.status)} certificate cannot be renewed.`}
            >
              Renew
            </Button>
          )}
          {writable && (
            <Button
              variant="danger"
              onClick={() => {
                revoke.reset();
                setReason("unspecified");
                setRevoking(true);
              }}
              deniedReason={c.status === "revoked" ? "Already revoked: revocation is final." : null}
            >
              Revoke
            </Button>
          )}
        </div>
      </div>
      <ProblemAlert error={pem.error} />
      {renew.data && (isAwaiting(renew.data) ? <AwaitingNotice job={renew.data} /> : <RenewedNotice cert={renew.data} />)}

      <dl className="fields">
        <dt>Status</dt>
        <dd>
          <StatusBadge cert={c} /> {c.short_lived && <span className="badge">short-lived</span>}
        </dd>
        <dt>Subject CN</dt>
        <dd>{c.common_name}</dd>
        <dt>SANs</dt>
        <dd>{c.sans.length ? <ul className="plain">{c.sans.map((s) => <li key={s}>{s}</li>)}</ul> : <span className="muted">–</span>}</dd>
        <dt>Valid from</dt>
        <dd>
          <When at={c.not_before} />
        </dd>
        <dt>Valid until</dt>
        <dd>
          <When at={c.not_after} />
        </dd>
        <dt>Serial</dt>
        <dd className="mono">{c.serial_hex}</dd>
        <dt>Key algorithm</dt>
        <dd>{c.key_algorithm}</dd>
        <dt>Requested by</dt>
        <dd>
          {c.requested_by} <span className="muted">via {c.source === "api" ? "the API" : c.source.toUpperCase()}</span>
        </dd>
        <dt>Created</dt>
        <dd>
          <When at={c.created_at} />
        </dd>
        <dt>Issuer</dt>
        <dd>
          <Link to={`/issuers/${c.issuer_id}`}>{issuer?.name ?? c.issuer_id}</Link>
        </dd>
        <dt>Profile</dt>
        <dd>
          <Link to={`/profiles/${c.profile_id}`}>{profile?.name ?? c.profile_id}</Link>
        </dd>
        {c.job_id && (
          <>
            <dt>Approval job</dt>
            <dd className="mono">{c.job_id}</dd>
          </>
        )}
        {can("audit:read") && (
          <>
            <dt>Audit trail</dt>
            <dd>
              <Link to={`/audit?resource_type=certificate&resource_id=${c.id}`}>What happened to this certificate</Link>
            </dd>
          </>
        )}
        <dt>Renewed from</dt>
        <dd>{c.renewed_from_id ? <Link to={`/certificates/${c.renewed_from_id}`}>{c.renewed_from_id}</Link> : <span className="muted">–</span>}</dd>
        <dt>Renewed as</dt>
        <dd>{c.superseded_by_id ? <Link to={`/certificates/${c.superseded_by_id}`}>{c.superseded_by_id}</Link> : <span className="muted">–</span>}</dd>
      </dl>

      <RenewalSection cert={c} profile={profile} />

      {c.revocation && (
        <>
          <h2>Revocation</h2>
          <dl className="fields">
            <dt>Reason</dt>
            <dd>{c.revocation.reason}</dd>
            <dt>Revoked</dt>
            <dd>
              <When at={c.revocation.revoked_at} />
            </dd>
            <dt>Revoked by</dt>
            <dd>{c.revocation.revoked_by}</dd>
          </dl>
        </>
      )}

      <h2>Certificate (PEM)</h2>
      {c.certificate_pem ? <Pre label="Certificate (PEM)">{c.certificate_pem}</Pre> : <Empty>The API returned no PEM for this certificate.</Empty>}

      {writable && (
        <>
          <Dialog open={revoking} title="Revoke this certificate" onClose={() => setRevoking(false)}>
            <form
              className="stack"
              onSubmit={(e) => {
                e.preventDefault();
                revoke.mutate(reason);
              }}
            >
              <p>
                {`Revoke ${c.common_name} (serial ${c.serial_hex})?`} Revocation is final: relying parties see it through OCSP
                within seconds and in the next CRL.
              </p>
              <ReasonSelect value={reason} onChange={setReason} />
              <ProblemAlert error={revoke.error} />
              <div className="actions">
                <Button type="submit" variant="danger" disabled={revoke.isPending}>
                  Revoke certificate
                </Button>
                <Button onClick={() => setRevoking(false)}>Cancel</Button>
              </div>
            </form>
          </Dialog>
          <Dialog open={renewing} title="Renew this certificate" onClose={() => setRenewing(false)}>
            <div className="stack">
              <p>
                The same public key, names, issuer and profile are certified again with a fresh lifetime, checked against the profile
                as it is now. This certificate then becomes renewed. If the profile requires approval, a job is filed instead.
              </p>
              {c.status === "renewal_in_progress" && (
                <p className="alert alert-info">An automatic renewal of this certificate is under way: renewing it now cancels that job.</p>
              )}
              <ProblemAlert error={renew.error} />
              <div className="actions">
                <Button variant="primary" disabled={renew.isPending} onClick={() => renew.mutate()}>
                  Renew certificate
                </Button>
                <Button onClick={() => setRenewing(false)}>Cancel</Button>
              </div>
            </div>
          </Dialog>
        </>
      )}
    </section>
  );
}

function RenewedNotice({ cert }: { cert: Issued }) {
  return (
    <p className="alert alert-info" role="status">
      Renewed: the new certificate is valid until <When at={cert.not_after} />.{" "}
      <Link to={`/certificates/${cert.id}`}>Open the new certificate</Link>
    </p>
  );
}

// ---------------------------------------------------------------------------------------------
// Renewal: when the window opens, which policy applies, where the key came from, and (for admins)
// the policy this certificate follows instead of its profile's.

const usePolicies = () => useQuery({ queryKey: ["renewal-policies"], queryFn: () => listRenewalPolicies() });

function RenewalSection({ cert: c, profile }: { cert: Certificate; profile: Profile | undefined }) {
  const { can } = useSession();
  const policies = usePolicies();
  const all = policies.data?.data ?? [];
  const own = all.find((p) => p.id === c.renewal_policy_id);
  const profilePolicy = profile ? (profile.renewal_policy_id ? all.find((p) => p.id === profile.renewal_policy_id) : all.find((p) => p.built_in)) : undefined;
  const opened = c.renew_after ? new Date(c.renew_after).getTime() <= Date.now() : false;
  return (
    <>
      <h2>Renewal</h2>
      <dl className="fields">
        <dt>Renewal window</dt>
        <dd>
          {c.renew_after ? (
            <>
              {opened ? "opened " : "opens "}
              <When at={c.renew_after} />
            </>
          ) : (
            <span className="muted">none: the certificate is no longer live</span>
          )}
        </dd>
        <dt>Renewal policy</dt>
        <dd>
          {c.renewal_policy_id ? (
            <>
              <Link to="/renewal-policies">{own?.name ?? c.renewal_policy_id}</Link> <span className="muted">(its own)</span>
            </>
          ) : (
            <>
              the profile's
              {profilePolicy && (
                <>
                  {": "}
                  <Link to="/renewal-policies">{profilePolicy.name}</Link>
                  {profilePolicy.built_in && <span className="muted"> (built-in)</span>}
                </>
              )}
            </>
          )}
        </dd>
        <dt>Key</dt>
        <dd>{c.key_generated ? "generated by certctl, which keeps none of it" : "the requester's own (from a CSR)"}</dd>
      </dl>
      <ProblemAlert error={policies.error} />
      {can("profiles:write") && policies.data && <PolicyControl cert={c} policies={all} />}
    </>
  );
}

/** A select of the policies plus "the profile's policy", saved with PUT …/renewal-policy. */
function PolicyControl({ cert: c, policies }: { cert: Certificate; policies: RenewalPolicy[] }) {
  const client = useQueryClient();
  const [value, setValue] = useState(c.renewal_policy_id ?? "");
  const save = useMutation({
    mutationFn: (policy: string | null) => setCertificatePolicy(c.id, policy),
    onSuccess: (updated) => {
      client.setQueryData(["certificate", c.id], updated);
      void client.invalidateQueries({ queryKey: ["certificates"] });
    },
  });
  const unchanged = value === (c.renewal_policy_id ?? "");
  return (
    <form
      className="stack inline-form"
      aria-label="Renewal policy of this certificate"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate(value || null);
      }}
    >
      <Field
        label="Follow the renewal policy"
        hint="Saving recomputes the renewal window; an expiring certificate goes back to the renewal loop under the policy chosen."
      >
        {(p) => (
          <select
            {...p}
            value={value}
            onChange={(e) => {
              setValue(e.target.value);
              save.reset();
            }}
          >
            <option value="">the profile's policy</option>
            {policies.map((p) => (
              <option key={p.id} value={p.id}>
                {p.built_in ? `${p.name} (built-in)` : p.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <ProblemAlert error={save.error} />
      {save.isSuccess && unchanged && (
        <p className="alert alert-info" role="status">
          Saved: the renewal window{" "}
          {c.renew_after ? (
            <>
              {new Date(c.renew_after).getTime() <= Date.now() ? "opened " : "now opens "}
              <When at={c.renew_after} />
            </>
          ) : (
            "is closed (the certificate is no longer live)"
          )}
          .
        </p>
      )}
      <div className="actions">
        <Button type="submit" disabled={save.isPending || unchanged}>
          Set policy
        </Button>
      </div>
    </form>
  );
}
