// Small building blocks: buttons that explain why they are disabled, problem alerts, relative
// times, empty and loading states, a confirm dialog and a side drawer. Plain elements with ARIA,
// styled by styles.css.

import { useEffect, useId, useRef, type ButtonHTMLAttributes, type ReactNode } from "react";

import { ApiError } from "../api/client";

/** A button; when `deniedReason` is set it is disabled and says why (tooltip and screen readers). */
export function Button({
  deniedReason,
  variant = "default",
  children,
  ...rest
}: ButtonHTMLAttributes<HTMLButtonElement> & { deniedReason?: string | null; variant?: "default" | "primary" | "danger" }) {
  const id = useId();
  const denied = Boolean(deniedReason);
  return (
    <>
      <button
        type="button"
        className={`btn btn-${variant}`}
        {...rest}
        disabled={denied || rest.disabled}
        title={deniedReason ?? rest.title}
        aria-describedby={denied ? id : rest["aria-describedby"]}
      >
        {children}
      </button>
      {denied && (
        <span id={id} className="sr-only">
          {deniedReason}
        </span>
      )}
    </>
  );
}

/** What went wrong, from the API's problem when there is one. */
export function ProblemAlert({ error }: { error: unknown }) {
  if (!error) return null;
  if (error instanceof ApiError) {
    const p = error.problem;
    return (
      <div role="alert" className="alert alert-error">
        <strong>
          {p.title} ({p.status})
        </strong>
        {p.detail && <span>: {p.detail}</span>} <code className="code">{p.code}</code>
      </div>
    );
  }
  return (
    <div role="alert" className="alert alert-error">
      {error instanceof Error ? error.message : String(error)}
    </div>
  );
}

const units: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * 86400],
  ["month", 30 * 86400],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];

export function relative(iso: string, now = Date.now()): string {
  const seconds = (new Date(iso).getTime() - now) / 1000;
  const fmt = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size || unit === "second") return fmt.format(Math.round(seconds / size), unit);
  }
  return iso;
}

/** A time shown relative ("3 hours ago"), with the absolute UTC time on hover. */
export function When({ at }: { at: string | null | undefined }) {
  if (!at) return <span className="muted">–</span>;
  const abs = new Date(at).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  return (
    <time dateTime={at} title={abs}>
      {relative(at)}
    </time>
  );
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** A modal dialog (native <dialog>): focus is trapped and Escape closes it. */
export function Dialog({ open, title, onClose, children }: { open: boolean; title: string; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      if (typeof d.showModal === "function") d.showModal();
      else d.setAttribute("open", "");
    }
    if (!open && d.open) {
      if (typeof d.close === "function") d.close();
      else d.removeAttribute("open");
    }
  }, [open]);
  const titleId = useId();
  return (
    <dialog ref={ref} aria-labelledby={titleId} onClose={onClose} onCancel={onClose} className="dialog">
      {open && (
        <>
          <h2 id={titleId}>{title}</h2>
          {children}
        </>
      )}
    </dialog>
  );
}

/** A panel on the right for a row's details, below the top bar. Escape closes it, and focus
 * goes back to what opened it. */
export function Drawer({ title, onClose, children }: { title: string; onClose: () => void; children: ReactNode }) {
  const titleId = useId();
  const closeRef = useRef<HTMLButtonElement>(null);
  // The latest onClose, without re-running the effect (which moves focus) on every render.
  const close = useRef(onClose);
  close.current = onClose;
  useEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    closeRef.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && close.current();
    window.addEventListener("keydown", onKey);
    return () => {
      window.removeEventListener("keydown", onKey);
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  return (
    <div className="drawer" role="dialog" aria-modal="false" aria-labelledby={titleId}>
      <header className="drawer-head">
        <h2 id={titleId}>{title}</h2>
        <button ref={closeRef} type="button" className="btn" onClick={onClose} aria-label="Close details">
          ×
        </button>
      </header>
      <div className="drawer-body">{children}</div>
    </div>
  );
}

/** Text cut to `max` characters, the whole of it in a tooltip. */
export function Truncated({ text, max = 60 }: { text: string | null | undefined; max?: number }) {
  if (!text) return <span className="muted">–</span>;
  if (text.length <= max) return <span>{text}</span>;
  return <span title={text}>{text.slice(0, max - 1)}…</span>;
}
