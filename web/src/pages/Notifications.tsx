// Notifications: every delivery and its attempts, and the dead letters waiting for an operator.
//
// The toolbar has two tabs, "All" and "Dead letter". Each tab's list is cached under its own
// query key (['notifications', activeTab, …]), so switching tabs never shows the other tab's rows,
// not even for a render. A dead or failed row can be requeued: the mutation passes the id, and
// only the id, to the API client.

import { useCallback, useState } from "react";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useSearchParams } from "react-router";

import {
  getNotification,
  listChannels,
  listNotifications,
  requeueNotification,
  totalText,
  type EventType,
  type Notification,
  type NotificationQuery,
  type NotificationStatus,
} from "../api/client";
import { useSession } from "../auth/session";
import { Button, Drawer, Empty, Loading, ProblemAlert, Truncated, When } from "../components/ui";

export type Tab = "all" | "dead";

const STATUSES: NotificationStatus[] = ["pending", "sending", "sent", "failed", "dead"];
const EVENT_TYPES: EventType[] = [
  "certificate_issued",
  "certificate_renewed",
  "certificate_revoked",
  "approval_requested",
  "approval_decided",
  "expiration_warning",
  "renewal_due",
  "renewal_failed",
  "channel_test",
];

/** "Retry n/max": the attempts spent of the budget the server reports for the row. */
export function retryLabel(n: Pick<Notification, "retry_count" | "max_attempts">): string {
  return `Retry ${n.retry_count}/${n.max_attempts}`;
}

export const canRequeue = (n: Pick<Notification, "status">) => n.status === "failed" || n.status === "dead";

interface Filters {
  status: NotificationStatus | "";
  type: EventType | "";
  channel: string;
}

export function NotificationsPage() {
  const [params, setParams] = useSearchParams();
  const [activeTab, setActiveTab] = useState<Tab>(params.get("tab") === "dead" ? "dead" : "all");
  const [filters, setFilters] = useState<Filters>({ status: "", type: "", channel: "" });
  const [cursors, setCursors] = useState<string[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const { can } = useSession();
  const client = useQueryClient();
  const cursor = cursors[cursors.length - 1];

  const query: NotificationQuery = {
    status: activeTab === "dead" ? "dead" : filters.status || undefined,
    type: filters.type || undefined,
    channel_id: filters.channel || undefined,
    cursor,
    limit: 50,
  };
  const list = useQuery({
    queryKey: ["notifications", activeTab, filters, cursor ?? null],
    queryFn: () => listNotifications(query),
    placeholderData: (previous, previousQuery) =>
      // Keep the page while the next one loads, but never across tabs.
      previousQuery?.queryKey[1] === activeTab ? keepPreviousData(previous) : undefined,
  });
  const channels = useQuery({ queryKey: ["channels"], queryFn: () => listChannels() });

  const requeue = useMutation({
    mutationFn: (id: string) => requeueNotification(id),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["notifications"] });
      void client.invalidateQueries({ queryKey: ["summary"] });
    },
  });

  const closeDrawer = useCallback(() => setSelected(null), []);
  const switchTab = (tab: Tab) => {
    setActiveTab(tab);
    setCursors([]);
    setParams(tab === "dead" ? { tab } : {}, { replace: true });
  };
  const denied = can("notifications:operate") ? null : "Your role cannot requeue notifications";

  return (
    <section aria-labelledby="notifications-title">
      <h1 id="notifications-title">Notifications</h1>
      <div className="toolbar">
        <div role="tablist" aria-label="Notifications" className="tabs">
          {(["all", "dead"] as const).map((tab) => (
            <button
              key={tab}
              type="button"
              role="tab"
              id={`tab-${tab}`}
              aria-selected={activeTab === tab}
              aria-controls="notifications-panel"
              className={activeTab === tab ? "tab tab-active" : "tab"}
              onClick={() => switchTab(tab)}
            >
              {tab === "all" ? "All" : "Dead letter"}
            </button>
          ))}
        </div>
        <div className="filters">
          {activeTab === "all" && (
            <label>
              Status{" "}
              <select
                value={filters.status}
                onChange={(e) => {
                  setFilters({ ...filters, status: e.target.value as Filters["status"] });
                  setCursors([]);
                }}
              >
                <option value="">any</option>
                {STATUSES.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </select>
            </label>
          )}
          <label>
            Type{" "}
            <select
              value={filters.type}
              onChange={(e) => {
                setFilters({ ...filters, type: e.target.value as Filters["type"] });
                setCursors([]);
              }}
            >
              <option value="">any</option>
              {EVENT_TYPES.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </label>
          <label>
            Channel{" "}
            <select
              value={filters.channel}
              onChange={(e) => {
                setFilters({ ...filters, channel: e.target.value });
                setCursors([]);
              }}
            >
              <option value="">any</option>
              {channels.data?.data.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          </label>
        </div>
      </div>

      <div role="tabpanel" id="notifications-panel" aria-labelledby={`tab-${activeTab}`}>
        <ProblemAlert error={list.error ?? requeue.error} />
        {list.isPending && <Loading what="Loading notifications" />}
        {list.data && list.data.data.length === 0 && (
          <Empty>{activeTab === "dead" ? "No dead letters: every notification was delivered or is still being tried." : "No notifications match."}</Empty>
        )}
        {list.data && list.data.data.length > 0 && (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Type</th>
                <th scope="col">Channel</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last error</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((n) => (
                <tr key={n.id} data-testid="notification-row">
                  <td>
                    <button type="button" className="link" onClick={() => setSelected(n.id)}>
                      {n.type}
                    </button>
                  </td>
                  <td>{n.channel_kind ?? <span className="muted">deleted</span>}</td>
                  <td>
                    <span className={`badge badge-${n.status}`}>{n.status}</span>
                  </td>
                  <td>{retryLabel(n)}</td>
                  <td>
                    <Truncated text={n.last_error} />
                  </td>
                  <td>
                    <When at={n.created_at} />
                  </td>
                  <td>
                    {canRequeue(n) && (
                      <Button
                        deniedReason={denied}
                        disabled={requeue.isPending}
                        onClick={() => requeue.mutate(n.id)}
                        aria-label={`Requeue notification ${n.id}`}
                      >
                        Requeue
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {list.data && (
          <nav className="pager" aria-label="Pages">
            <span className="muted">{totalText(list.data)} in all</span>
            <Button disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
              Previous
            </Button>
            <Button
              disabled={!list.data.next_cursor}
              onClick={() => list.data?.next_cursor && setCursors([...cursors, list.data.next_cursor])}
            >
              Next
            </Button>
          </nav>
        )}
      </div>
      {selected && <NotificationDrawer id={selected} onClose={closeDrawer} />}
    </section>
  );
}

function NotificationDrawer({ id, onClose }: { id: string; onClose: () => void }) {
  const detail = useQuery({ queryKey: ["notification", id], queryFn: () => getNotification(id) });
  return (
    <Drawer title="Notification" onClose={onClose}>
      <ProblemAlert error={detail.error} />
      {detail.isPending && <Loading />}
      {detail.data && (
        <>
          <dl className="fields">
            <dt>Id</dt>
            <dd className="mono">{detail.data.id}</dd>
            <dt>Type</dt>
            <dd>{detail.data.type}</dd>
            <dt>Status</dt>
            <dd>
              <span className={`badge badge-${detail.data.status}`}>{detail.data.status}</span> ({retryLabel(detail.data)})
            </dd>
            <dt>Next retry</dt>
            <dd>
              <When at={detail.data.next_retry_at} />
            </dd>
            <dt>Last error</dt>
            <dd>{detail.data.last_error ?? "–"}</dd>
          </dl>
          <h3>Attempts</h3>
          {detail.data.attempts.length === 0 ? (
            <Empty>No attempt yet.</Empty>
          ) : (
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Started</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">HTTP</th>
                  <th scope="col">ms</th>
                  <th scope="col">Error</th>
                </tr>
              </thead>
              <tbody>
                {detail.data.attempts.map((a) => (
                  <tr key={a.attempt}>
                    <td>{a.attempt}</td>
                    <td>
                      <When at={a.started_at} />
                    </td>
                    <td>{a.outcome}</td>
                    <td>{a.status_code ?? "–"}</td>
                    <td>{a.duration_ms ?? "–"}</td>
                    <td>
                      <Truncated text={a.error} max={80} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <h3>Payload</h3>
          <pre className="pre" tabIndex={0} role="region" aria-label="Payload (JSON)">
            {JSON.stringify(detail.data.payload, null, 2)}
          </pre>
        </>
      )}
    </Drawer>
  );
}
