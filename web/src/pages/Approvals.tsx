// Approvals: the jobs. Issuance and renewal requests filed under a profile that requires a second
// person, and the renewals the worker runs by itself. Jobs awaiting approval are listed first (the
// default filter); each can be approved or rejected with an optional note by a role with
// jobs:decide, except by the person who requested it: the server refuses that (403
// self_approval_forbidden), and the page says so before anyone tries.
//
// A renewal that rotates a key the requester holds waits for a CSR (awaiting_csr): a role with
// certificates:write pastes it on the job. A renewal that rotated a key certctl generated keeps the
// new key until someone collects it, once: the key is shown in a dialog that says so, and is
// gone once the dialog is closed.

import { useId, useRef, useState, type FormEvent } from "react";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router";

import {
  approveJob,
  collectJobKey,
  listIssuers,
  listJobs,
  listProfiles,
  rejectJob,
  submitJobCsr,
  type Job,
  type JobStatus,
  type RenewalKey,
} from "../api/client";
import { useSession } from "../auth/session";
import { Field, JOB_STATUSES, Pager, download, fileName, focusFirstInvalid, keysOf, statusText, useCursors, useTitle } from "../components/forms";
import { Button, Dialog, Empty, Loading, ProblemAlert, When } from "../components/ui";

const STATUSES = keysOf(JOB_STATUSES);
export const SELF_APPROVAL = "You requested this: someone else must decide it";

/** Principals compare as the server compares them: trimmed, ASCII case-insensitive. */
export const samePrincipal = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

interface JobRequest {
  common_name?: string;
  sans?: string[];
  ttl_seconds?: number;
  key_algorithm?: string;
  renew_of?: string | null;
  /** The serial of the certificate an automatic renewal renews. */
  serial_hex?: string;
}

/** The stored request, read defensively: the schema types it as unknown. */
export function requestOf(job: Pick<Job, "request">): JobRequest {
  const r = job.request;
  if (!r || typeof r !== "object") return {};
  const o = r as Record<string, unknown>;
  return {
    common_name: typeof o.common_name === "string" ? o.common_name : undefined,
    sans: Array.isArray(o.sans) ? o.sans.filter((s): s is string => typeof s === "string") : undefined,
    ttl_seconds: typeof o.ttl_seconds === "number" ? o.ttl_seconds : undefined,
    key_algorithm: typeof o.key_algorithm === "string" ? o.key_algorithm : undefined,
    renew_of: typeof o.renew_of === "string" ? o.renew_of : null,
    serial_hex: typeof o.serial_hex === "string" ? o.serial_hex : undefined,
  };
}

type Decision = { id: string; approve: boolean; note: string };

export function ApprovalsPage() {
  useTitle("Approvals");
  const { me, can } = useSession();
  const client = useQueryClient();
  const [status, setStatus] = useState<JobStatus | "">("awaiting_approval");
  const cursors = useCursors(status);
  const list = useQuery({
    queryKey: ["jobs", status, cursors.cursor ?? null],
    queryFn: () => listJobs({ status: status || undefined, cursor: cursors.cursor, limit: 50 }),
    placeholderData: keepPreviousData,
  });
  const profiles = useQuery({ queryKey: ["profiles"], queryFn: () => listProfiles() });
  const issuers = useQuery({ queryKey: ["issuers"], queryFn: () => listIssuers() });
  const profileNames = new Map(profiles.data?.data.map((p) => [p.id, p.name]) ?? []);
  const issuerNames = new Map(issuers.data?.data.map((i) => [i.id, i.name]) ?? []);

  const decide = useMutation({
    mutationFn: ({ id, approve, note }: Decision) => (approve ? approveJob(id, note.trim() || undefined) : rejectJob(id, note.trim() || undefined)),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["jobs"] });
      void client.invalidateQueries({ queryKey: ["certificates"] });
      void client.invalidateQueries({ queryKey: ["summary"] });
    },
  });
  const denied = can("jobs:decide") ? null : "Your role cannot decide approval jobs (jobs:decide)";
  const writeDenied = can("certificates:write") ? null : "Your role cannot renew certificates (certificates:write)";

  // The CSR's outcome is shown above the list, like a decision's: the job leaves awaiting_csr, and
  // its form with it, as soon as the list is asked again.
  const giveCsr = useMutation({
    mutationFn: ({ id, csr }: { id: string; csr: string }) => submitJobCsr(id, csr),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["jobs"] });
      void client.invalidateQueries({ queryKey: ["certificates"] });
      void client.invalidateQueries({ queryKey: ["summary"] });
    },
  });

  // The collected key lives here, not in the card: the list is refetched after the collection and
  // must not take the only copy with it. The mutation is not cached (gcTime 0) and "Done" drops it.
  const collect = useMutation({
    mutationFn: (id: string) => collectJobKey(id),
    gcTime: 0,
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["jobs"] });
      void client.invalidateQueries({ queryKey: ["certificates"] });
    },
  });

  return (
    <section aria-labelledby="approvals-title">
      <h1 id="approvals-title">Approvals</h1>
      <div className="filters filter-bar">
        <label>
          Status{" "}
          <select value={status} onChange={(e) => setStatus(e.target.value as JobStatus | "")}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusText(s)}
              </option>
            ))}
          </select>
        </label>
      </div>
      <DecisionOutcome job={decide.data} />
      <CsrOutcome job={giveCsr.data} />
      <ProblemAlert error={list.error} />
      {list.isPending && <Loading what="Loading approval jobs" />}
      {list.data && list.data.data.length === 0 && (
        <Empty>
          {status === "awaiting_approval" ? "Nothing is waiting for approval." : status === "awaiting_csr" ? "No renewal is waiting for a CSR." : "No job matches."}
        </Empty>
      )}
      {list.data && list.data.data.length > 0 && (
        <ul className="jobs">
          {list.data.data.map((job) => (
            <li key={job.id}>
              <JobCard
                job={job}
                profileName={profileNames.get(job.profile_id)}
                issuerName={issuerNames.get(job.issuer_id)}
                own={me ? samePrincipal(job.requested_by, me.principal) : false}
                denied={denied}
                busy={decide.isPending && decide.variables?.id === job.id}
                error={decide.variables?.id === job.id ? decide.error : null}
                onDecide={(approve, note) => decide.mutate({ id: job.id, approve, note })}
                writeDenied={writeDenied}
                csrBusy={giveCsr.isPending && giveCsr.variables?.id === job.id}
                csrError={giveCsr.variables?.id === job.id ? giveCsr.error : null}
                onCsr={(csr) => giveCsr.mutate({ id: job.id, csr })}
                collecting={collect.isPending && collect.variables === job.id}
                collectError={collect.variables === job.id && !collect.data ? collect.error : null}
                onCollect={() => collect.mutate(job.id)}
              />
            </li>
          ))}
        </ul>
      )}
      <Pager page={list.data} cursors={cursors} />
      <Dialog open={collect.data !== undefined} title="The renewed certificate's private key" onClose={() => collect.reset()}>
        {collect.data && <CollectedKey collected={collect.data} onDone={() => collect.reset()} />}
      </Dialog>
    </section>
  );
}

function DecisionOutcome({ job }: { job: Job | undefined }) {
  if (!job) return null;
  if (job.status === "approved")
    return (
      <p className="alert alert-info" role="status">
        Approved: the certificate is issued.{" "}
        {job.certificate_id && <Link to={`/certificates/${job.certificate_id}`}>Open the certificate</Link>}
      </p>
    );
  if (job.status === "failed")
    return (
      <p className="alert alert-error" role="status">
        {`Approved, but the request no longer passes the profile or issuer, so the job failed: ${job.error ?? "no reason given"}`}
      </p>
    );
  return (
    <p className="alert alert-info" role="status">
      Rejected.
    </p>
  );
}

function JobCard({
  job,
  profileName,
  issuerName,
  own,
  denied,
  busy,
  error,
  onDecide,
  writeDenied,
  csrBusy,
  csrError,
  onCsr,
  collecting,
  collectError,
  onCollect,
}: {
  job: Job;
  profileName: string | undefined;
  issuerName: string | undefined;
  own: boolean;
  denied: string | null;
  busy: boolean;
  error: unknown;
  onDecide: (approve: boolean, note: string) => void;
  writeDenied: string | null;
  csrBusy: boolean;
  csrError: unknown;
  onCsr: (csr: string) => void;
  collecting: boolean;
  collectError: unknown;
  onCollect: () => void;
}) {
  const [note, setNote] = useState("");
  const titleId = useId();
  const ownId = useId();
  const r = requestOf(job);
  const awaiting = job.status === "awaiting_approval";
  const renews = job.renews_certificate_id;
  // A role without jobs:decide is told so by the buttons; the requester is told so in plain sight.
  const ownProps = own && !denied ? { disabled: true, title: SELF_APPROVAL, "aria-describedby": ownId } : {};
  return (
    <article className="card job" aria-labelledby={titleId}>
      <h2 id={titleId} className="job-title">
        {r.common_name ?? "(no common name)"}{" "}
        <span className={`badge badge-${job.status}`} title={JOB_STATUSES[job.status]}>
          {statusText(job.status)}
        </span>
      </h2>
      <dl className="fields">
        <dt>Kind</dt>
        <dd>
          {job.kind}
          {renews
            ? " (automatic)"
            : r.renew_of && (
                <>
                  {" of "}
                  <Link to={`/certificates/${r.renew_of}`}>the current certificate</Link>
                </>
              )}
        </dd>
        {renews && (
          <>
            <dt>Renews</dt>
            <dd>
              <Link to={`/certificates/${renews}`} className="serial">
                {r.serial_hex ? `the certificate with serial ${r.serial_hex}` : `certificate ${renews}`}
              </Link>
            </dd>
          </>
        )}
        <dt>Requested by</dt>
        <dd>{job.requested_by}</dd>
        <dt>Created</dt>
        <dd>
          <When at={job.created_at} />
        </dd>
        <dt>Common name</dt>
        <dd>{r.common_name ?? "–"}</dd>
        {r.sans && (
          <>
            <dt>SANs</dt>
            <dd>{r.sans.length ? r.sans.join(", ") : "–"}</dd>
          </>
        )}
        <dt>Profile</dt>
        <dd>
          <Link to={`/profiles/${job.profile_id}`}>{profileName ?? job.profile_id}</Link>
        </dd>
        <dt>Issuer</dt>
        <dd>
          <Link to={`/issuers/${job.issuer_id}`}>{issuerName ?? job.issuer_id}</Link>
        </dd>
        {r.key_algorithm && (
          <>
            <dt>Key</dt>
            <dd>{r.key_algorithm}</dd>
          </>
        )}
        {(renews || job.attempts > 0) && (
          <>
            <dt>Attempts</dt>
            <dd>{job.attempts}</dd>
          </>
        )}
        {job.next_attempt_at && job.status === "pending" && (
          <>
            <dt>Next attempt</dt>
            <dd>
              <When at={job.next_attempt_at} />
            </dd>
          </>
        )}
        {(job.decided_by || job.decided_at) && (
          <>
            <dt>Decided</dt>
            <dd>
              {job.decided_by ?? "–"}, <When at={job.decided_at} />
            </dd>
          </>
        )}
        {job.decision_note && (
          <>
            <dt>Note</dt>
            <dd>{job.decision_note}</dd>
          </>
        )}
        {job.certificate_id && (
          <>
            <dt>Certificate</dt>
            <dd>
              <Link to={`/certificates/${job.certificate_id}`}>{job.certificate_id}</Link>
            </dd>
          </>
        )}
        {job.key_retrieved_at && (
          <>
            <dt>Key collected</dt>
            <dd>
              <When at={job.key_retrieved_at} />
            </dd>
          </>
        )}
        {job.error && (
          <>
            <dt>{job.status === "pending" || job.status === "awaiting_csr" ? "Last error" : "Error"}</dt>
            <dd>{job.error}</dd>
          </>
        )}
      </dl>
      {awaiting && (
        <div className="job-decide">
          <Field label="Note (optional)" hint="Kept with the decision in the audit log; at most 2000 characters.">
            {(p) => <textarea {...p} rows={2} maxLength={2000} value={note} onChange={(e) => setNote(e.target.value)} disabled={own || Boolean(denied)} />}
          </Field>
          <ProblemAlert error={error} />
          <div className="actions">
            <Button variant="primary" deniedReason={denied} disabled={busy} {...ownProps} onClick={() => onDecide(true, note)}>
              Approve
            </Button>
            <Button variant="danger" deniedReason={denied} disabled={busy} {...ownProps} onClick={() => onDecide(false, note)}>
              Reject
            </Button>
            {own && !denied && (
              <span id={ownId} className="own-request">
                {SELF_APPROVAL}
              </span>
            )}
          </div>
        </div>
      )}
      {job.status === "awaiting_csr" && <CsrForm job={job} denied={writeDenied} busy={csrBusy} error={csrError} onSubmit={onCsr} />}
      {job.key_available && (
        <div className="job-panel">
          <p className="hint">
            This renewal generated a new private key. It can be collected once, by one person: certctl erases it as it hands it
            out.
          </p>
          <ProblemAlert error={collectError} />
          <div className="actions">
            <Button variant="primary" deniedReason={writeDenied} disabled={collecting} onClick={onCollect}>
              Collect the key
            </Button>
          </div>
        </div>
      )}
    </article>
  );
}

/** What is wrong with a pasted CSR, or null. */
export function csrError(csr: string): string | null {
  if (!csr.trim()) return "Paste the CSR (PEM)";
  if (!csr.includes("BEGIN CERTIFICATE REQUEST")) return "This is not a PEM CSR: it must contain “-----BEGIN CERTIFICATE REQUEST-----”";
  return null;
}

/** The new key of a renewal waiting for one: a CSR pasted by a role with certificates:write. */
function CsrForm({
  job,
  denied,
  busy,
  error,
  onSubmit,
}: {
  job: Job;
  denied: string | null;
  busy: boolean;
  error: unknown;
  onSubmit: (csr: string) => void;
}) {
  const formRef = useRef<HTMLFormElement>(null);
  const [csr, setCsr] = useState("");
  const [invalid, setInvalid] = useState<string | null>(null);
  const send = (e: FormEvent) => {
    e.preventDefault();
    const err = csrError(csr);
    setInvalid(err);
    if (err) return focusFirstInvalid(formRef.current);
    onSubmit(csr);
  };
  return (
    <form ref={formRef} className="job-panel" onSubmit={send} noValidate aria-label={`CSR for ${requestOf(job).common_name ?? "this renewal"}`}>
      <Field
        label="New CSR (PEM)"
        error={invalid}
        hint="The policy rotates keys and certctl never had this one: make a new key and paste its PKCS#10 request. Only its key is used; the names stay the certificate's."
      >
        {(p) => (
          <textarea
            {...p}
            rows={6}
            value={csr}
            onChange={(e) => {
              setCsr(e.target.value);
              setInvalid(null);
            }}
            placeholder="-----BEGIN CERTIFICATE REQUEST-----"
            spellCheck={false}
            disabled={Boolean(denied)}
          />
        )}
      </Field>
      <ProblemAlert error={error} />
      <div className="actions">
        <Button type="submit" variant="primary" deniedReason={denied} disabled={busy}>
          Submit CSR
        </Button>
      </div>
    </form>
  );
}

/** What became of a renewal once its CSR was given. */
function CsrOutcome({ job }: { job: Job | undefined }) {
  if (!job) return null;
  return (
    <p className="alert alert-info" role="status">
      {job.status === "awaiting_approval" ? (
        "CSR accepted: the renewal now waits for someone other than you to approve it."
      ) : job.certificate_id ? (
        <>
          CSR accepted: renewed. <Link to={`/certificates/${job.certificate_id}`}>Open the new certificate</Link>
        </>
      ) : (
        `CSR accepted: the job is ${statusText(job.status)}.`
      )}
    </p>
  );
}

/** The key collected from a renewal, shown this once, with its certificate. */
function CollectedKey({ collected, onDone }: { collected: RenewalKey; onDone: () => void }) {
  const cert = collected.certificate;
  const keyId = useId();
  const certId = useId();
  return (
    <div className="stack wide">
      <div className="alert alert-warn" role="alert">
        <strong>Save the private key now.</strong> It is shown this once: certctl erased it as it handed it out, and nobody can
        collect it again. Closing this dialog discards it.
      </div>
      <p>
        {`Renewed ${cert.common_name}, serial ${cert.serial_hex}, valid until `}
        <When at={cert.not_after} />. <Link to={`/certificates/${cert.id}`}>Open the certificate</Link>
      </p>
      <label htmlFor={keyId}>Private key (PEM)</label>
      <textarea id={keyId} className="pem-once" readOnly value={collected.private_key_pem} spellCheck={false} autoComplete="off" />
      <div className="actions">
        <Button variant="primary" onClick={() => download(fileName(cert.common_name, "key"), collected.private_key_pem)}>
          Download key
        </Button>
      </div>
      <label htmlFor={certId}>Certificate (PEM)</label>
      <textarea id={certId} className="pem-once" readOnly value={cert.certificate_pem ?? ""} spellCheck={false} />
      <div className="actions">
        <Button
          onClick={() =>
            download(fileName(cert.common_name, "pem"), `${cert.certificate_pem ?? ""}${collected.chain_pem}`, "application/pem-certificate-chain")
          }
        >
          Download PEM chain
        </Button>
        <Button onClick={onDone}>Done</Button>
      </div>
    </div>
  );
}
