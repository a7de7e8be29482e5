// Renewal policies: when a certificate's renewal window opens, whether certctl renews it by
// itself, with the same key or a new one, how a failed renewal is retried, and which expiry
// warnings and channels apply. Every role that reads certificates sees them (all in one page, by
// name); admins (profiles:write) create them, edit them (a whole replacement) and delete them.
// The built-in policy applies wherever no other is set: it can be edited, not deleted.

import { useRef, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import {
  createRenewalPolicy,
  deleteRenewalPolicy,
  listChannels,
  listRenewalPolicies,
  replaceRenewalPolicy,
  type Channel,
  type RenewalPolicy,
  type Schemas,
} from "../api/client";
import { useSession } from "../auth/session";
import {
  Check,
  CheckGroup,
  Field,
  RadioGroup,
  SubmitRow,
  duration,
  focusFirstInvalid,
  keysOf,
  nameError,
  plural,
  useTitle,
  wholeNumber,
} from "../components/forms";
import { Button, Dialog, Empty, Loading, ProblemAlert, When } from "../components/ui";

const DENIED = "Only admins can change renewal policies (profiles:write)";
const BUILT_IN = "The built-in policy can be edited, not deleted";
const WEEK = 7 * 86_400;

const yesNo = (b: boolean) => (b ? "yes" : "no");

/** A length of time in one short unit: "30d", "36h", "90m", "45s". */
export function shortDuration(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** A fraction as a percentage in words: 2/3 is "67%"; one decimal where rounding would say 0 or 100. */
export function percentText(fraction: number): string {
  const pct = fraction * 100;
  const whole = Math.round(pct);
  return whole > 0 && whole < 100 ? `${whole}%` : `${Number(pct.toFixed(1))}%`;
}

/** When the window opens, in words: "30d before expiry" or "at 67% of the lifetime". */
export function policyWindow(p: Pick<RenewalPolicy, "renew_before_seconds" | "renew_at_fraction">): string {
  if (p.renew_before_seconds != null) return `${shortDuration(p.renew_before_seconds)} before expiry`;
  if (p.renew_at_fraction != null) return `at ${percentText(p.renew_at_fraction)} of the lifetime`;
  return "–";
}

// ---------------------------------------------------------------------------------------------
// The form's draft

export type Unit = "days" | "hours" | "minutes" | "seconds";
const UNITS: Record<Unit, string> = { days: "days", hours: "hours", minutes: "minutes", seconds: "seconds" };
const UNIT_SECONDS: Record<Unit, number> = { days: 86_400, hours: 3600, minutes: 60, seconds: 1 };

/** Seconds as an amount of the largest unit that holds them exactly (2592000 → 30 days). */
function split(seconds: number): { amount: string; unit: Unit } {
  const unit = keysOf(UNITS).find((u) => seconds % UNIT_SECONDS[u] === 0) ?? "seconds";
  return { amount: String(seconds / UNIT_SECONDS[unit]), unit };
}

export type WindowKind = "before" | "fraction";
const WINDOWS: Record<WindowKind, string> = { before: "A time before expiry", fraction: "A share of the lifetime" };

export interface PolicyDraft {
  name: string;
  window: WindowKind;
  before_amount: string;
  before_unit: Unit;
  percent: string;
  auto_renew: boolean;
  rotate_key: boolean;
  max_attempts: string;
  retry_amount: string;
  retry_unit: Unit;
  warning_days: string;
  channel_ids: string[];
}

export type PolicyErrors = Partial<Record<keyof PolicyDraft, string>>;

/** A percentage as the form shows it: at most two decimals (2/3 → "66.67"). */
const percentInput = (fraction: number) => String(Number((fraction * 100).toFixed(2)));

/** The draft of a new policy (the API's defaults), or of an existing one to edit. */
export function draftOf(p?: RenewalPolicy): PolicyDraft {
  const before = split(p?.renew_before_seconds ?? 30 * 86_400);
  const retry = split(p?.retry_interval_seconds ?? 3600);
  return {
    name: p?.name ?? "",
    window: p?.renew_at_fraction != null ? "fraction" : "before",
    before_amount: before.amount,
    before_unit: before.unit,
    percent: p?.renew_at_fraction != null ? percentInput(p.renew_at_fraction) : "66.67",
    auto_renew: p?.auto_renew ?? true,
    rotate_key: p?.rotate_key ?? false,
    max_attempts: String(p?.max_attempts ?? 5),
    retry_amount: retry.amount,
    retry_unit: retry.unit,
    warning_days: p?.warning_days?.join(", ") ?? "",
    channel_ids: p?.channel_ids ?? [],
  };
}

/** The warning thresholds typed, or null when one is not a whole number. */
function warningList(text: string): number[] | null {
  const parts = text
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);
  const days = parts.map((x) => wholeNumber(x, 0));
  return days.some((d) => d === null) ? null : (days as number[]);
}

/** A percentage strictly between 0 and 100, or null. */
function percentOf(text: string): number | null {
  const t = text.trim();
  if (!/^\d+(\.\d+)?$/.test(t)) return null;
  const n = Number(t);
  return n > 0 && n < 100 ? n : null;
}

/** What is wrong with the form, field by field, under the API's rules; empty when it can be sent. */
export function validatePolicy(d: PolicyDraft): PolicyErrors {
  const e: PolicyErrors = {};
  const n = nameError(d.name);
  if (n) e.name = n;
  if (d.window === "before" && wholeNumber(d.before_amount) === null) e.before_amount = "The time before expiry must be a positive whole number";
  if (d.window === "fraction" && percentOf(d.percent) === null) e.percent = "The share must be a number between 0 and 100, both excluded";
  const attempts = wholeNumber(d.max_attempts);
  if (attempts === null || attempts > 100) e.max_attempts = "Attempts must be a whole number from 1 to 100";
  const retry = wholeNumber(d.retry_amount);
  if (retry === null || retry * UNIT_SECONDS[d.retry_unit] > WEEK) e.retry_amount = "The retry interval must be a whole number, from 1 second to 1 week";
  if (d.warning_days.trim() !== "") {
    const days = warningList(d.warning_days);
    if (days === null || days.some((x) => x > 3650)) e.warning_days = "Warnings must be whole numbers of days from 0 to 3650, separated by commas";
    else if (days.length > 10) e.warning_days = "At most 10 warnings";
  }
  return e;
}

/**
 * The request body: exactly one window, the other left out; no warnings or channels means the
 * worker's thresholds and every subscribed channel. An edited policy whose percentage was left as
 * shown keeps its exact fraction (2/3 stays 2/3, not 0.6667).
 */
export function policyBody(d: PolicyDraft, original?: RenewalPolicy): Schemas["RenewalPolicyIn"] {
  const body: Schemas["RenewalPolicyIn"] = {
    name: d.name,
    auto_renew: d.auto_renew,
    rotate_key: d.rotate_key,
    max_attempts: wholeNumber(d.max_attempts) ?? 5,
    retry_interval_seconds: (wholeNumber(d.retry_amount) ?? 1) * UNIT_SECONDS[d.retry_unit],
  };
  if (d.window === "before") body.renew_before_seconds = (wholeNumber(d.before_amount) ?? 1) * UNIT_SECONDS[d.before_unit];
  else if (original?.renew_at_fraction != null && d.percent.trim() === percentInput(original.renew_at_fraction)) body.renew_at_fraction = original.renew_at_fraction;
  else body.renew_at_fraction = (percentOf(d.percent) ?? 0) / 100;
  const warnings = d.warning_days.trim() ? warningList(d.warning_days) : null;
  if (warnings?.length) body.warning_days = warnings;
  // An edited policy set (through the API) to no warnings or no channels at all keeps that.
  else if (original?.warning_days?.length === 0) body.warning_days = [];
  if (d.channel_ids.length) body.channel_ids = d.channel_ids;
  else if (original?.channel_ids?.length === 0) body.channel_ids = [];
  return body;
}

// ---------------------------------------------------------------------------------------------
// The page

export function RenewalPoliciesPage() {
  useTitle("Renewal policies");
  const { can } = useSession();
  const client = useQueryClient();
  // null: no form open; { policy: undefined }: creating; { policy }: editing it.
  const [editing, setEditing] = useState<{ policy?: RenewalPolicy } | null>(null);
  const [deleting, setDeleting] = useState<RenewalPolicy | null>(null);
  const list = useQuery({ queryKey: ["renewal-policies"], queryFn: () => listRenewalPolicies() });
  const channels = useQuery({ queryKey: ["channels"], queryFn: () => listChannels() });
  const channelNames = new Map(channels.data?.data.map((c) => [c.id, c.name]) ?? []);
  const remove = useMutation({
    mutationFn: (id: string) => deleteRenewalPolicy(id),
    onSuccess: () => {
      setDeleting(null);
      void client.invalidateQueries({ queryKey: ["renewal-policies"] });
    },
  });
  const denied = can("profiles:write") ? null : DENIED;
  const builtIn = list.data?.data.find((p) => p.built_in);

  return (
    <section aria-labelledby="policies-title">
      <div className="page-head">
        <h1 id="policies-title">Renewal policies</h1>
        <Button variant="primary" deniedReason={denied} onClick={() => setEditing({})}>
          Create policy
        </Button>
      </div>
      <p className="hint" id="policies-help">
        A certificate follows its own policy if it has one, else its profile's, else the built-in policy
        {builtIn ? ` (${builtIn.name})` : ""}. {BUILT_IN}. A policy that a profile or certificate follows cannot be deleted.
      </p>
      <ProblemAlert error={list.error ?? channels.error} />
      {list.isPending && <Loading what="Loading renewal policies" />}
      {list.data && list.data.data.length === 0 && <Empty>No renewal policy.</Empty>}
      {list.data && list.data.data.length > 0 && (
        <div className="table-wrap">
          <table className="table" aria-describedby="policies-help">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Window</th>
                <th scope="col">Automatic</th>
                <th scope="col">New key</th>
                <th scope="col">Retries</th>
                <th scope="col">Warnings</th>
                <th scope="col">Channels</th>
                <th scope="col">Updated</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((p) => (
                <tr key={p.id} data-testid="policy-row">
                  <td>
                    {p.name}
                    {p.built_in && <span className="badge badge-note">built-in</span>}
                  </td>
                  <td>{policyWindow(p)}</td>
                  <td>{yesNo(p.auto_renew)}</td>
                  <td>{yesNo(p.rotate_key)}</td>
                  <td>{`${plural(p.max_attempts, "attempt")}, ${duration(p.retry_interval_seconds)} apart`}</td>
                  <td>
                    {p.warning_days == null ? (
                      <span className="muted">worker default</span>
                    ) : p.warning_days.length === 0 ? (
                      "none"
                    ) : (
                      `${p.warning_days.join(", ")} days before expiry`
                    )}
                  </td>
                  <td>
                    {p.channel_ids == null ? (
                      <span className="muted">every subscribed channel</span>
                    ) : p.channel_ids.length === 0 ? (
                      "none"
                    ) : (
                      p.channel_ids.map((id) => channelNames.get(id) ?? id).join(", ")
                    )}
                  </td>
                  <td>
                    <When at={p.updated_at} />
                  </td>
                  <td>
                    <div className="actions">
                      <Button deniedReason={denied} aria-label={`Edit policy ${p.name}`} onClick={() => setEditing({ policy: p })}>
                        Edit
                      </Button>
                      <Button
                        variant="danger"
                        deniedReason={denied ?? (p.built_in ? BUILT_IN : null)}
                        aria-label={`Delete policy ${p.name}`}
                        onClick={() => {
                          remove.reset();
                          setDeleting(p);
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
        title={editing?.policy ? `Edit the renewal policy ${editing.policy.name}` : "Create a renewal policy"}
        onClose={() => setEditing(null)}
      >
        {editing && <PolicyForm key={editing.policy?.id ?? "new"} policy={editing.policy} channels={channels.data?.data ?? []} onDone={() => setEditing(null)} />}
      </Dialog>
      <Dialog open={deleting !== null} title="Delete this renewal policy?" onClose={() => setDeleting(null)}>
        {deleting && (
          <div className="stack">
            <p>{`Delete the renewal policy ${deleting.name}?`}</p>
            <p>A policy that a profile or a certificate still follows cannot be deleted: point them at another one first.</p>
            <ProblemAlert error={remove.error} />
            <div className="actions">
              <Button variant="danger" disabled={remove.isPending} onClick={() => remove.mutate(deleting.id)}>
                Delete policy
              </Button>
              <Button onClick={() => setDeleting(null)}>Cancel</Button>
            </div>
          </div>
        )}
      </Dialog>
    </section>
  );
}

function UnitSelect({ label, value, onChange }: { label: string; value: Unit; onChange: (u: Unit) => void }) {
  return (
    <Field label={label}>
      {(p) => (
        <select {...p} value={value} onChange={(e) => onChange(e.target.value as Unit)}>
          {keysOf(UNITS).map((u) => (
            <option key={u} value={u}>
              {UNITS[u]}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

function PolicyForm({ policy, channels, onDone }: { policy?: RenewalPolicy; channels: Channel[]; onDone: () => void }) {
  const client = useQueryClient();
  const formRef = useRef<HTMLFormElement>(null);
  const [d, setD] = useState<PolicyDraft>(() => draftOf(policy));
  const [errors, setErrors] = useState<PolicyErrors>({});
  const save = useMutation({
    mutationFn: (body: Schemas["RenewalPolicyIn"]) => (policy ? replaceRenewalPolicy(policy.id, body) : createRenewalPolicy(body)),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["renewal-policies"] });
      // A changed policy recomputes the renewal windows of the certificates that follow it.
      void client.invalidateQueries({ queryKey: ["certificate"] });
      void client.invalidateQueries({ queryKey: ["certificates"] });
      onDone();
    },
  });
  const set = <K extends keyof PolicyDraft>(k: K, v: PolicyDraft[K]) => {
    setD((x) => ({ ...x, [k]: v }));
    setErrors((e) => ({ ...e, [k]: undefined }));
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errs = validatePolicy(d);
    setErrors(errs);
    if (Object.values(errs).some(Boolean)) return focusFirstInvalid(formRef.current);
    save.mutate(policyBody(d, policy));
  };
  const label = policy ? `Edit the renewal policy ${policy.name}` : "Create a renewal policy";
  const channelOptions: Record<string, string> = Object.fromEntries(channels.map((c) => [c.id, c.enabled ? c.name : `${c.name} (disabled)`]));
  return (
    <form ref={formRef} className="stack wide" onSubmit={submit} noValidate aria-label={label}>
      {policy && (
        <p className="hint">
          Saving replaces the whole policy and recomputes the renewal windows of the live certificates that follow it; on a large
          estate, do it outside busy hours.
        </p>
      )}
      <Field label="Name" error={errors.name} hint="Unique; 1–100 characters.">
        {(p) => <input {...p} value={d.name} onChange={(e) => set("name", e.target.value)} autoComplete="off" />}
      </Field>
      <RadioGroup legend="Renewal window opens" name="policy-window" options={WINDOWS} value={d.window} onChange={(v) => set("window", v)} />
      {d.window === "before" ? (
        <div className="checks">
          <Field label="Time before expiry" error={errors.before_amount} hint="A certificate that lives shorter than this enters its window as soon as it is issued.">
            {(p) => <input {...p} type="number" min={1} step={1} value={d.before_amount} onChange={(e) => set("before_amount", e.target.value)} />}
          </Field>
          <UnitSelect label="Time unit" value={d.before_unit} onChange={(u) => set("before_unit", u)} />
        </div>
      ) : (
        <Field
          label="Share of the lifetime (%)"
          error={errors.percent}
          hint="The window opens once this much of the lifetime has passed; 66.67 (two thirds) is what ACME renewal information suggests."
        >
          {(p) => <input {...p} type="number" min={0.01} max={99.99} step="any" value={d.percent} onChange={(e) => set("percent", e.target.value)} />}
        </Field>
      )}
      <Check
        label="Renew automatically"
        checked={d.auto_renew}
        onChange={(v) => set("auto_renew", v)}
        hint="Without it, certificates entering their window are marked expiring and warned about, and someone renews them."
      />
      <Check
        label="New key on each renewal"
        checked={d.rotate_key}
        onChange={(v) => set("rotate_key", v)}
        hint="A key certctl generated: the worker makes the new one, to be collected once on the Approvals page. A key from a CSR: the renewal waits for a new CSR there."
      />
      <Field label="Attempts" error={errors.max_attempts} hint="Before an automatic renewal fails for good: 1 to 100.">
        {(p) => <input {...p} type="number" min={1} max={100} step={1} value={d.max_attempts} onChange={(e) => set("max_attempts", e.target.value)} />}
      </Field>
      <div className="checks">
        <Field label="Retry interval" error={errors.retry_amount} hint="Between attempts: 1 second to 1 week.">
          {(p) => <input {...p} type="number" min={1} step={1} value={d.retry_amount} onChange={(e) => set("retry_amount", e.target.value)} />}
        </Field>
        <UnitSelect label="Retry interval unit" value={d.retry_unit} onChange={(u) => set("retry_unit", u)} />
      </div>
      <Field
        label="Expiry warnings (optional)"
        error={errors.warning_days}
        hint="Days before expiry, separated by commas, for example 14, 7, 1; at most 10. Empty: the worker's default thresholds."
      >
        {(p) => <input {...p} value={d.warning_days} onChange={(e) => set("warning_days", e.target.value)} inputMode="numeric" autoComplete="off" />}
      </Field>
      {channels.length > 0 ? (
        <CheckGroup
          legend="Channels (optional)"
          options={channelOptions}
          value={d.channel_ids}
          onChange={(v) => set("channel_ids", v)}
          hint="Who hears about these certificates' expiry warnings, due and failed renewals; each channel must also subscribe to the event. None chosen: every subscribed channel."
        />
      ) : (
        <p className="hint">No notification channel yet: every channel created later and subscribed to the events will hear about these certificates.</p>
      )}
      <SubmitRow error={save.error} pending={save.isPending} label={policy ? "Save" : "Create"} onCancel={onDone} />
    </form>
  );
}
