// Approvals: issuance and renewal requests filed under a profile that requires a second person.
// Jobs awaiting approval are listed first (the default filter); each can be approved or rejected
// with an optional note by a role with jobs:decide, except by the person who requested it: the
// server refuses that (403 self_approval_forbidden), and the page says so before anyone tries.

import { useId, useState } from "react";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router";

import { approveJob, listIssuers, listJobs, listProfiles, rejectJob, type Job, type Schemas } from "../api/client";
import { useSession } from "../auth/session";
import { Field, Pager, useCursors, useTitle } from "../components/forms";
import { Button, Empty, Loading, ProblemAlert, When } from "../components/ui";

type JobStatus = Schemas["JobStatus"];
const STATUSES: JobStatus[] = ["awaiting_approval", "approved", "rejected", "failed"];
export const SELF_APPROVAL = "You requested this: someone else must decide it";

/** Principals compare as the server compares them: trimmed, ASCII case-insensitive. */
export const samePrincipal = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

interface JobRequest {
  common_name?: string;
  sans?: string[];
  ttl_seconds?: number;
  key_algorithm?: string;
  renew_of?: string | null;
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
                {s.replace("_", " ")}
              </option>
            ))}
          </select>
        </label>
      </div>
      <DecisionOutcome job={decide.data} />
      <ProblemAlert error={list.error} />
      {list.isPending && <Loading what="Loading approval jobs" />}
      {list.data && list.data.data.length === 0 && (
        <Empty>{status === "awaiting_approval" ? "Nothing is waiting for approval." : "No job matches."}</Empty>
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
              />
            </li>
          ))}
        </ul>
      )}
      <Pager page={list.data} cursors={cursors} />
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
}: {
  job: Job;
  profileName: string | undefined;
  issuerName: string | undefined;
  own: boolean;
  denied: string | null;
  busy: boolean;
  error: unknown;
  onDecide: (approve: boolean, note: string) => void;
}) {
  const [note, setNote] = useState("");
  const titleId = useId();
  const ownId = useId();
  const r = requestOf(job);
  const awaiting = job.status === "awaiting_approval";
  // A role without jobs:decide is told so by the buttons; the requester is told so in plain sight.
  const ownProps = own && !denied ? { disabled: true, title: SELF_APPROVAL, "aria-describedby": ownId } : {};
  return (
    <article className="card job" aria-labelledby={titleId}>
      <h2 id={titleId} className="job-title">
        {r.common_name ?? "(no common name)"} <span className={`badge badge-${job.status}`}>{job.status.replace("_", " ")}</span>
      </h2>
      <dl className="fields">
        <dt>Kind</dt>
        <dd>
          {job.kind}
          {r.renew_of && (
            <>
              {" of "}
              <Link to={`/certificates/${r.renew_of}`}>the current certificate</Link>
            </>
          )}
        </dd>
        <dt>Requested by</dt>
        <dd>{job.requested_by}</dd>
        <dt>Created</dt>
        <dd>
          <When at={job.created_at} />
        </dd>
        <dt>Common name</dt>
        <dd>{r.common_name ?? "–"}</dd>
        <dt>SANs</dt>
        <dd>{r.sans?.length ? r.sans.join(", ") : "–"}</dd>
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
        {!awaiting && (
          <>
            <dt>Decided</dt>
            <dd>
              {job.decided_by ?? "–"}, <When at={job.decided_at} />
            </dd>
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
            {job.error && (
              <>
                <dt>Error</dt>
                <dd>{job.error}</dd>
              </>
            )}
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
    </article>
  );
}
