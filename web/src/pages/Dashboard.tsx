// The dashboard: what needs attention now. Everything refreshes every 30 s and when the window
// regains focus.

import { useQueries, useQuery } from "@tanstack/react-query";
import { Link } from "react-router";

import { getSummary, listCertificates, listIssuers, listNotifications, totalText, type CertificateStatus, type NotificationStatus } from "../api/client";
import { Loading, ProblemAlert } from "../components/ui";

const REFRESH = { refetchInterval: 30_000, refetchOnWindowFocus: true } as const;
const WINDOWS = [7, 30, 90] as const;
const STATUSES: NotificationStatus[] = ["pending", "sending", "sent", "failed", "dead"];
/** The summary counts certificates in each state; each links to the list filtered by it. (Listed
 * here rather than taken from the forms module, which would grow the first load.) */
const CERT_STATUSES = ["active", "expiring", "renewal_in_progress", "expired", "renewed", "revoked"] as const satisfies readonly CertificateStatus[];
/** Not yet renewed, revoked or marked expired: what still has to be renewed before it expires. */
const LIVE: CertificateStatus[] = ["active", "expiring", "renewal_in_progress"];

function inDays(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().replace(/\.\d+Z$/, "Z");
}

function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "–";
  const a = Math.abs(seconds);
  const text = a >= 86_400 ? `${Math.round(a / 86_400)}d` : a >= 3600 ? `${Math.round(a / 3600)}h` : a >= 60 ? `${Math.round(a / 60)}m` : `${Math.round(a)}s`;
  return seconds < 0 ? `${text} overdue` : text;
}

export function DashboardPage() {
  const summary = useQuery({ queryKey: ["summary"], queryFn: () => getSummary(), ...REFRESH });
  const issuers = useQuery({ queryKey: ["issuers"], queryFn: () => listIssuers() });
  const expiring = useQueries({
    queries: WINDOWS.map((days) => ({
      queryKey: ["certificates", "expiring", days],
      // Only the total is read; soonest expiry first reads the fewest rows to find the page.
      queryFn: () => listCertificates({ status: LIVE, expiring_before: inDays(days), sort: "expiry", limit: 1 }),
      ...REFRESH,
    })),
  });
  const byStatus = useQueries({
    queries: STATUSES.map((status) => ({
      queryKey: ["notifications", "count", status],
      queryFn: () => listNotifications({ status, limit: 1 }),
      ...REFRESH,
    })),
  });

  if (summary.isPending) return <Loading what="Loading the summary" />;
  if (summary.error) return <ProblemAlert error={summary.error} />;
  const s = summary.data;
  const names = new Map(issuers.data?.data.map((i) => [i.id, i.name]) ?? []);
  const max = Math.max(1, ...expiring.map((q) => q.data?.total ?? 0));

  return (
    <section aria-labelledby="dashboard-title">
      <h1 id="dashboard-title">Dashboard</h1>
      <div className="cards">
        <article className="card" aria-labelledby="c-certs">
          <h2 id="c-certs">Certificates</h2>
          <p className="big">{s.certificates.total}</p>
          <ul className="counts">
            {CERT_STATUSES.map((status) => (
              <li key={status}>
                <Link to={`/certificates?status=${status}`}>{`${s.certificates[status]} ${status.replaceAll("_", " ")}`}</Link>
              </li>
            ))}
          </ul>
          <Link to="/certificates">All certificates</Link>
        </article>
        <article className="card" aria-labelledby="c-approvals">
          <h2 id="c-approvals">Pending approvals</h2>
          <p className="big">{s.jobs_awaiting_approval}</p>
          <Link to="/approvals">Review approvals</Link>
        </article>
        <article className={s.notifications_dead > 0 ? "card card-alert" : "card"} aria-labelledby="c-dead" data-testid="dead-letter-card">
          <h2 id="c-dead">Dead letters</h2>
          <p className="big">{s.notifications_dead}</p>
          <p className="muted">Notifications that used their whole retry budget.</p>
          <Link to="/notifications?tab=dead">Open the Dead letter tab</Link>
        </article>
      </div>

      <div className="cards">
        <article className="card card-wide" aria-labelledby="c-expiring">
          <h2 id="c-expiring">Live certificates expiring</h2>
          <p className="muted">Active, expiring or being renewed, by days left.</p>
          <ul className="bars">
            {WINDOWS.map((days, i) => {
              const page = expiring[i]?.data;
              const n = page?.total;
              return (
                <li key={days}>
                  <span className="bar-label">within {days} days</span>
                  <span className="bar" style={{ width: `${((n ?? 0) / max) * 100}%` }} aria-hidden="true" />
                  <span className="bar-value">{page ? totalText(page) : "…"}</span>
                </li>
              );
            })}
          </ul>
        </article>
        <article className="card" aria-labelledby="c-notif">
          <h2 id="c-notif">Notifications</h2>
          <ul className="counts">
            {STATUSES.map((status, i) => (
              <li key={status}>
                <span className={`badge badge-${status}`}>{status}</span> {byStatus[i]?.data ? totalText(byStatus[i].data) : "…"}
              </li>
            ))}
          </ul>
          <Link to="/notifications">All notifications</Link>
        </article>
      </div>

      <article className="card card-wide" aria-labelledby="c-revocation">
        <h2 id="c-revocation">Revocation publishing</h2>
        {s.revocation.length === 0 ? (
          <p className="muted">No live issuer yet.</p>
        ) : (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Issuer</th>
                <th scope="col">CRL published</th>
                <th scope="col">CRL next update in</th>
                <th scope="col">OCSP signer expires in</th>
              </tr>
            </thead>
            <tbody>
              {s.revocation.map((r) => (
                <tr key={r.issuer_id}>
                  <td>{names.get(r.issuer_id) ?? r.issuer_id}</td>
                  <td>{r.crl_age_seconds == null ? "not yet" : `${duration(r.crl_age_seconds)} ago`}</td>
                  <td>{duration(r.crl_next_update_in_seconds)}</td>
                  <td>{r.ocsp_signer_expires_in_seconds == null ? "no signer yet" : duration(r.ocsp_signer_expires_in_seconds)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </article>
    </section>
  );
}
