// Form building blocks shared by the pages: labelled fields that show their validation error next
// to the control, checkbox and radio groups, cursor pagination, a copy-once secret, downloads, and
// the option lists of the API's enums (each a Record over the schema's union, so a value added to
// the API fails the type check until it is listed here).

import { useEffect, useId, useRef, useState, type ReactElement, type ReactNode } from "react";
import type { SetURLSearchParams } from "react-router";

import {
  totalText,
  type CertificateStatus,
  type ChannelKind,
  type EventType,
  type JobStatus,
  type KeyAlgorithm,
  type RevocationReason,
  type Role,
  type Schemas,
} from "../api/client";
import { Button, ProblemAlert } from "./ui";

export const KEY_ALGORITHMS: Record<KeyAlgorithm, string> = {
  "ecdsa-p256": "ECDSA P-256",
  "ecdsa-p384": "ECDSA P-384",
  "rsa-2048": "RSA 2048",
  "rsa-3072": "RSA 3072",
  "rsa-4096": "RSA 4096",
};

/** Where a certificate is in its life, in the order it gets there. */
export const CERTIFICATE_STATUSES: Record<CertificateStatus, string> = {
  active: "valid, its renewal window not yet open",
  expiring: "inside its renewal window and nobody is renewing it",
  renewal_in_progress: "an automatic renewal is under way",
  expired: "past its end of validity, neither revoked nor renewed",
  renewed: "replaced by its renewal",
  revoked: "revoked (final)",
};

/** The states a certificate can be renewed or revoked in, and in which it still counts as live. */
export const LIVE_STATUSES: CertificateStatus[] = ["active", "expiring", "renewal_in_progress"];

/** Where a job is: approval requests and the worker's renewals. */
export const JOB_STATUSES: Record<JobStatus, string> = {
  pending: "the worker will try it",
  awaiting_csr: "the renewal waits for a CSR with the new key",
  awaiting_approval: "waits for someone other than the requester",
  approved: "approved and issued",
  completed: "renewed",
  rejected: "rejected",
  failed: "failed for good",
  cancelled: "cancelled: the certificate was revoked or renewed by other means",
};

/** A status as people read it: "renewal in progress" for `renewal_in_progress`. */
export const statusText = (s: string) => s.replaceAll("_", " ");

// "superseded" here is RFC 5280's revocation reason, not a certificate status.
export const REVOCATION_REASONS: Record<RevocationReason, string> = {
  unspecified: "unspecified",
  keyCompromise: "keyCompromise: the private key was exposed",
  cACompromise: "cACompromise: the issuing CA was compromised",
  affiliationChanged: "affiliationChanged: the subject's name or affiliation changed",
  superseded: "superseded: replaced by another certificate",
  cessationOfOperation: "cessationOfOperation: no longer needed",
  privilegeWithdrawn: "privilegeWithdrawn: the subject lost the right to it",
};

export const EKUS: Record<Schemas["Eku"], string> = {
  server_auth: "Server authentication (TLS server)",
  client_auth: "Client authentication (TLS client)",
  code_signing: "Code signing",
  email_protection: "Email protection (S/MIME)",
  time_stamping: "Time stamping",
};

export const EVENT_TYPES: Record<EventType, string> = {
  certificate_issued: "Certificate issued",
  certificate_renewed: "Certificate renewed",
  certificate_revoked: "Certificate revoked",
  approval_requested: "Approval requested",
  approval_decided: "Approval decided",
  expiration_warning: "Expiration warning",
  renewal_due: "Renewal due (a CSR is needed)",
  renewal_failed: "Renewal failed",
  channel_test: "Channel test",
};

export const CHANNEL_KINDS: Record<ChannelKind, string> = {
  webhook: "Webhook",
  email: "Email (SMTP)",
  slack: "Slack",
  teams: "Microsoft Teams",
  pagerduty: "PagerDuty",
  opsgenie: "Opsgenie",
};

export const ROLES: Record<Role, string> = {
  admin: "admin: everything",
  operator: "operator: issue, renew, revoke, decide approvals, operate notifications",
  viewer: "viewer: read certificates, issuers, profiles, jobs and notifications",
  auditor: "auditor: read the audit log",
};

/** The keys of an option Record, in their written order. */
export const keysOf = <K extends string>(r: Record<K, string>): K[] => Object.keys(r) as K[];

/** Props a Field hands to its control: its id, and its hint and error for screen readers. */
export interface ControlProps {
  id: string;
  "aria-invalid"?: true;
  "aria-describedby"?: string;
}

/** A labelled control with an optional hint and the validation error right under it. */
export function Field({
  label,
  error,
  hint,
  children,
}: {
  label: ReactNode;
  error?: string | null;
  hint?: ReactNode;
  children: (props: ControlProps) => ReactElement;
}) {
  const id = useId();
  const described = [hint ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean).join(" ");
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children({ id, ...(error ? { "aria-invalid": true as const } : {}), ...(described ? { "aria-describedby": described } : {}) })}
      {hint && (
        <span id={`${id}-hint`} className="hint">
          {hint}
        </span>
      )}
      {error && (
        <span id={`${id}-error`} className="field-error">
          {error}
        </span>
      )}
    </div>
  );
}

/** A fieldset of checkboxes choosing several values. */
export function CheckGroup<T extends string>({
  legend,
  options,
  value,
  onChange,
  error,
  hint,
}: {
  legend: string;
  options: Record<T, string>;
  value: T[];
  onChange: (next: T[]) => void;
  error?: string | null;
  hint?: ReactNode;
}) {
  const id = useId();
  const described = [hint ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean).join(" ") || undefined;
  const keys = keysOf(options);
  return (
    <fieldset className="group" aria-describedby={described} data-invalid={error ? true : undefined}>
      <legend>{legend}</legend>
      {hint && (
        <span id={`${id}-hint`} className="hint">
          {hint}
        </span>
      )}
      <div className="checks">
        {keys.map((k) => (
          <label key={k} className="check">
            <input
              type="checkbox"
              value={k}
              checked={value.includes(k)}
              onChange={(e) => onChange(e.target.checked ? keys.filter((x) => x === k || value.includes(x)) : value.filter((x) => x !== k))}
            />
            {options[k]}
          </label>
        ))}
      </div>
      {error && (
        <span id={`${id}-error`} className="field-error">
          {error}
        </span>
      )}
    </fieldset>
  );
}

/** A single checkbox with its label on the same line. */
export function Check({ label, checked, onChange, hint }: { label: string; checked: boolean; onChange: (v: boolean) => void; hint?: ReactNode }) {
  const id = useId();
  return (
    <div className="field">
      <label className="check">
        <input type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} aria-describedby={hint ? `${id}-hint` : undefined} />
        {label}
      </label>
      {hint && (
        <span id={`${id}-hint`} className="hint">
          {hint}
        </span>
      )}
    </div>
  );
}

/** A fieldset of radio buttons choosing one value. */
export function RadioGroup<T extends string>({
  legend,
  name,
  options,
  value,
  onChange,
}: {
  legend: string;
  name: string;
  options: Record<T, string>;
  value: T;
  onChange: (next: T) => void;
}) {
  return (
    <fieldset className="group">
      <legend>{legend}</legend>
      <div className="checks">
        {keysOf(options).map((k) => (
          <label key={k} className="check">
            <input type="radio" name={name} value={k} checked={value === k} onChange={() => onChange(k)} />
            {options[k]}
          </label>
        ))}
      </div>
    </fieldset>
  );
}

/** Focuses the first control marked invalid inside `root`, once the errors are rendered. */
export function focusFirstInvalid(root: HTMLElement | null) {
  setTimeout(() => {
    const el = root?.querySelector<HTMLElement>('[aria-invalid="true"], fieldset[data-invalid] input');
    el?.focus();
  }, 0);
}

/** Non-empty trimmed lines of a textarea. */
export const lines = (text: string): string[] =>
  text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);

/** A whole number ≥ min typed in a field, or null when it is not one. */
export function wholeNumber(text: string, min = 1): number | null {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return null;
  const n = Number(t);
  return Number.isSafeInteger(n) && n >= min ? n : null;
}

/** Names such as key, issuer and profile names: 1-100 characters, no spaces at the ends, no control characters. */
export function nameError(name: string, what = "Name"): string | null {
  if (name === "") return `${what} is required`;
  if (name.length > 100) return `${what} must be at most 100 characters`;
  if (name !== name.trim()) return `${what} must not start or end with a space`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return `${what} must not contain control characters`;
  return null;
}

/** An http:// or https:// URL with a host. */
export function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
  } catch {
    return false;
  }
}

/** `value` once it has stopped changing for `ms` milliseconds. */
export function useDebounced<T>(value: T, ms = 350): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return settled;
}

/** Sets the document title while a page is shown. */
/**
 * A list page's filters kept in the URL (so Back returns to them): the setter writes one filter
 * (an empty value removes it) without adding a history entry, and the settled text `search`
 * reaches `q` the way it reaches the query.
 */
export function useUrlFilters(
  setParams: SetURLSearchParams,
  params: URLSearchParams,
  search: string,
): (key: string, value: string) => void {
  const setFilter = (key: string, value: string) =>
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        if (value) next.set(key, value);
        else next.delete(key);
        return next;
      },
      { replace: true },
    );
  useEffect(() => {
    if ((params.get("q") ?? "") !== search) setFilter("q", search);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [search]);
  return setFilter;
}

export function useTitle(title: string) {
  useEffect(() => {
    const before = document.title;
    document.title = `${title} · certctl`;
    return () => {
      document.title = before;
    };
  }, [title]);
}

/**
 * A stack of cursors for Previous/Next. It belongs to one set of filters (`filterKey`): when the
 * filters change the stack is dropped in the same render, so a cursor never travels to other filters.
 */
export function useCursors(filterKey: string) {
  const [state, setState] = useState<{ key: string; cursors: string[] }>({ key: filterKey, cursors: [] });
  const cursors = state.key === filterKey ? state.cursors : [];
  return {
    cursor: cursors[cursors.length - 1],
    hasPrevious: cursors.length > 0,
    previous: () => setState({ key: filterKey, cursors: cursors.slice(0, -1) }),
    next: (cursor: string) => setState({ key: filterKey, cursors: [...cursors, cursor] }),
  };
}

/** Previous/Next under a list, with the total the API counted. */
export function Pager({
  page,
  cursors,
}: {
  page: { next_cursor?: string | null; total: number; total_estimated?: boolean } | undefined;
  cursors: ReturnType<typeof useCursors>;
}) {
  if (!page) return null;
  return (
    <nav className="pager" aria-label="Pages">
      <span className="muted">{totalText(page)} in all</span>
      <Button disabled={!cursors.hasPrevious} onClick={cursors.previous}>
        Previous
      </Button>
      <Button disabled={!page.next_cursor} onClick={() => page.next_cursor && cursors.next(page.next_cursor)}>
        Next
      </Button>
    </nav>
  );
}

/** Offers `text` as a file download (Blob and object URL; no inline script, no data: URL). */
export function download(filename: string, text: string, type = "application/x-pem-file") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.rel = "noopener";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A file name made of the safe characters of `base` (`*.corp.example` → `_.corp.example`). */
export const fileName = (base: string, ext: string) => `${base.replace(/[^A-Za-z0-9._-]/g, "_") || "certificate"}.${ext}`;

/** A secret shown once: a read-only input, a Copy button (falling back to selecting the text). */
export function CopyOnce({ label, value }: { label: string; value: string }) {
  const ref = useRef<HTMLInputElement>(null);
  const id = useId();
  const [status, setStatus] = useState("");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setStatus("Copied to the clipboard.");
    } catch {
      ref.current?.focus();
      ref.current?.select();
      setStatus("The key is selected: press Ctrl+C (⌘C on a Mac) to copy it.");
    }
  };
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <div className="copy-row">
        <input ref={ref} id={id} className="mono" readOnly value={value} onFocus={(e) => e.target.select()} spellCheck={false} autoComplete="off" />
        <Button onClick={() => void copy()}>Copy</Button>
      </div>
      <span className="hint" role="status" aria-live="polite">
        {status}
      </span>
    </div>
  );
}

/** "1 certificate", "3 certificates". */
export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** A lifetime in seconds as people say it: "90 days", "12 hours", "30 minutes". */
export function duration(seconds: number): string {
  if (seconds >= 86_400 && seconds % 86_400 === 0) return plural(seconds / 86_400, "day");
  if (seconds >= 86_400) return `${(seconds / 86_400).toFixed(1)} days`;
  if (seconds >= 3600 && seconds % 3600 === 0) return plural(seconds / 3600, "hour");
  if (seconds >= 60 && seconds % 60 === 0) return plural(seconds / 60, "minute");
  return plural(seconds, "second");
}

/**
 * A block of PEM or JSON: a labelled region that takes the keyboard focus, so it can be scrolled
 * without a mouse (it scrolls past 20rem).
 */
export function Pre({ label, children }: { label: string; children: ReactNode }) {
  return (
    <pre className="pre" role="region" aria-label={label} tabIndex={0}>
      {children}
    </pre>
  );
}

/** The foot of a create form: the API's refusal if any, then Submit and Cancel. */
export function SubmitRow({ error, pending, label, onCancel }: { error: unknown; pending: boolean; label: string; onCancel: () => void }) {
  return (
    <>
      <ProblemAlert error={error} />
      <div className="actions">
        <Button type="submit" variant="primary" disabled={pending}>
          {label}
        </Button>
        <Button onClick={onCancel}>Cancel</Button>
      </div>
    </>
  );
}
