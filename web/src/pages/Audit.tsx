// Audit log: who did what, newest first, page by page. The filters are the API's: exact matches
// on actor, action, resource type and resource id, and a time window (from one day, inclusive, to
// another, exclusive, in UTC). A link may open the page filtered (`/audit?resource_id=…`).

import { useState } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useSearchParams } from "react-router";

import { listAudit, type AuditEvent, type AuditQuery } from "../api/client";
import { Pager, Pre, useCursors, useDebounced, useTitle } from "../components/forms";
import { Empty, Loading, ProblemAlert, When } from "../components/ui";

const ACTIONS = [
  "api_key.create",
  "api_key.bootstrap",
  "api_key.disable",
  "issuer.create",
  "profile.create",
  "profile.update",
  "certificate.issue",
  "certificate.renew",
  "certificate.revoke",
  "certificate.bulk_revoke",
  "job.create",
  "job.approve",
  "job.reject",
  "channel.create",
  "channel.update",
  "channel.delete",
  "channel.test",
  "channel.seal_secrets",
  "notification.requeue",
  "authorization.denied",
];
const RESOURCE_TYPES = ["api_key", "issuer", "profile", "certificate", "job", "notification_channel", "notification", "route"];

type Filters = { actor: string; action: string; resource_type: string; resource_id: string; from: string; to: string };
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const midnight = (day: string) => (DAY.test(day) ? `${day}T00:00:00Z` : undefined);
const FIELDS: { key: keyof Filters; label: string; list?: string }[] = [
  { key: "actor", label: "Actor" },
  { key: "action", label: "Action", list: "audit-actions" },
  { key: "resource_type", label: "Resource type", list: "audit-resource-types" },
  { key: "resource_id", label: "Resource id" },
];

export function AuditPage() {
  useTitle("Audit log");
  const [params] = useSearchParams();
  const [draft, setDraft] = useState<Filters>(() => ({
    actor: params.get("actor") ?? "",
    action: params.get("action") ?? "",
    resource_type: params.get("resource_type") ?? "",
    resource_id: params.get("resource_id") ?? "",
    from: params.get("from") ?? "",
    to: params.get("to") ?? "",
  }));
  const settled = useDebounced(draft);
  const filters: Filters = {
    actor: settled.actor.trim(),
    action: settled.action.trim(),
    resource_type: settled.resource_type.trim(),
    resource_id: settled.resource_id.trim(),
    from: settled.from,
    to: settled.to,
  };
  const cursors = useCursors(JSON.stringify(filters));
  const query: AuditQuery = {
    actor: filters.actor || undefined,
    action: filters.action || undefined,
    resource_type: filters.resource_type || undefined,
    resource_id: filters.resource_id || undefined,
    since: midnight(filters.from),
    until: midnight(filters.to),
    cursor: cursors.cursor,
    limit: 50,
  };
  const list = useQuery({
    queryKey: ["audit", filters, cursors.cursor ?? null],
    queryFn: () => listAudit(query),
    placeholderData: keepPreviousData,
  });

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <form className="filters filter-bar" role="search" aria-label="Filter the audit log" onSubmit={(e) => e.preventDefault()}>
        {FIELDS.map((f) => (
          <label key={f.key}>
            {f.label}{" "}
            <input
              type="search"
              list={f.list}
              value={draft[f.key]}
              onChange={(e) => setDraft({ ...draft, [f.key]: e.target.value })}
              spellCheck={false}
              autoComplete="off"
            />
          </label>
        ))}
        <label>
          From (UTC day){" "}
          <input type="date" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
        </label>
        <label>
          Before (UTC day){" "}
          <input type="date" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
        </label>
        <datalist id="audit-actions">
          {ACTIONS.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        <datalist id="audit-resource-types">
          {RESOURCE_TYPES.map((t) => (
            <option key={t} value={t} />
          ))}
        </datalist>
      </form>
      <p className="hint" id="audit-order">
        Newest first. Filters match exactly (the whole value). The API has no time filter: use Next to go further back.
      </p>
      <ProblemAlert error={list.error} />
      {list.isPending && <Loading what="Loading the audit log" />}
      {list.data && list.data.data.length === 0 && <Empty>No audit event matches.</Empty>}
      {list.data && list.data.data.length > 0 && (
        <div className="table-wrap">
          <table className="table" aria-describedby="audit-order">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Resource</th>
                <th scope="col">Outcome</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((ev) => (
                <AuditRow key={ev.id} ev={ev} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager page={list.data} cursors={cursors} />
    </section>
  );
}

function AuditRow({ ev }: { ev: AuditEvent }) {
  return (
    <tr data-testid="audit-row">
      <td>
        <When at={ev.created_at} />
      </td>
      <td>{ev.actor}</td>
      <td className="mono">{ev.action}</td>
      <td>
        {ev.resource_type}
        {ev.resource_id && (
          <>
            {" "}
            <span className="mono break">{ev.resource_id}</span>
          </>
        )}
      </td>
      <td>
        <span className={`badge badge-${ev.outcome}`}>{ev.outcome}</span>
      </td>
      <td>
        <details>
          <summary>Details</summary>
          <dl className="fields small">
            <dt>Key id</dt>
            <dd className="mono">{ev.key_id ?? "–"}</dd>
            <dt>Request id</dt>
            <dd className="mono">{ev.request_id ?? "–"}</dd>
            <dt>Protocol</dt>
            <dd>{ev.protocol ?? "–"}</dd>
          </dl>
          <Pre label={`Details of ${ev.action} (JSON)`}>{JSON.stringify(ev.details, null, 2)}</Pre>
        </details>
      </td>
    </tr>
  );
}
