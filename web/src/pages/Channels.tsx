// Notification channels: where notifications go. Every role that reads certificates sees them
// (never their secrets: the API shows which secrets are set, and secret URLs only as scheme and
// host). Admins (channels:write) create channels and turn them on and off; operators and admins
// (notifications:operate) send a test through the whole delivery pipeline.
//
// The settings of each kind follow shared/src/channel_config.rs: its secret fields (webhook url
// and secret, email password, Slack/Teams webhook_url, PagerDuty routing_key, Opsgenie api_key) are
// password inputs, never prefilled.

import { useRef, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router";

import {
  createChannel,
  listChannels,
  testChannel,
  updateChannel,
  type Channel,
  type ChannelKind,
  type EventType,
  type Notification,
  type Schemas,
} from "../api/client";
import { useSession } from "../auth/session";
import {
  CHANNEL_KINDS,
  Check,
  CheckGroup,
  EVENT_TYPES,
  Field,
  focusFirstInvalid,
  isHttpUrl,
  keysOf,
  lines,
  nameError,
  useTitle,
  wholeNumber, SubmitRow } from "../components/forms";
import { Button, Dialog, Empty, Loading, ProblemAlert, Truncated, When } from "../components/ui";

interface ConfigField {
  key: string;
  label: string;
  type: "text" | "url" | "port" | "lines" | "select" | "email";
  secret?: boolean;
  required?: boolean;
  options?: string[];
  initial?: string;
  hint?: string;
}

/** Each kind's settings, as channel_config.rs reads them. */
export const CONFIG_FIELDS: Record<ChannelKind, ConfigField[]> = {
  webhook: [
    { key: "url", label: "URL", type: "url", secret: true, required: true, hint: "http:// or https://; stored sealed, shown as scheme and host only." },
    {
      key: "secret",
      label: "Signing secret",
      type: "text",
      secret: true,
      required: true,
      hint: "whsec_ followed by the base64 of a 16–64-byte key, e.g. whsec_$(openssl rand -base64 32); give the receiver the same value.",
    },
  ],
  email: [
    { key: "smtp_host", label: "SMTP host", type: "text", required: true },
    { key: "smtp_port", label: "SMTP port", type: "port", hint: "Optional: 587, 465 or 25 by TLS mode." },
    { key: "tls", label: "TLS", type: "select", options: ["starttls", "implicit", "none"], initial: "starttls", hint: "none only for a relay on this host when a password is set." },
    { key: "from", label: "From", type: "email", required: true },
    { key: "to", label: "To", type: "lines", required: true, hint: "One address per line." },
    { key: "username", label: "Username", type: "text", hint: "Username and password go together, or neither." },
    { key: "password", label: "Password", type: "text", secret: true },
  ],
  slack: [{ key: "webhook_url", label: "Webhook URL", type: "url", secret: true, required: true, hint: "The incoming webhook URL: a credential, stored sealed." }],
  teams: [{ key: "webhook_url", label: "Webhook URL", type: "url", secret: true, required: true, hint: "The incoming webhook URL: a credential, stored sealed." }],
  pagerduty: [
    { key: "routing_key", label: "Routing key", type: "text", secret: true, required: true },
    { key: "severity", label: "Severity", type: "select", options: ["critical", "error", "warning", "info"], initial: "warning" },
    { key: "api_url", label: "API URL (optional)", type: "url", hint: "Overrides the server's PagerDuty URL; no credentials or query." },
  ],
  opsgenie: [
    { key: "api_key", label: "API key", type: "text", secret: true, required: true },
    { key: "priority", label: "Priority", type: "select", options: ["P1", "P2", "P3", "P4", "P5"], initial: "P3" },
    { key: "api_url", label: "API URL (optional)", type: "url", hint: "For example the EU instance; no credentials or query." },
  ],
};

const fieldLabel = (f: ConfigField) =>
  f.required || f.type === "select" || f.label.includes("(optional)") ? f.label : `${f.label} (optional)`;

const initialConfig = (kind: ChannelKind) => Object.fromEntries(CONFIG_FIELDS[kind].map((f) => [f.key, f.initial ?? ""]));

const isLoopback = (host: string) => {
  const h = host.trim().replace(/^\[|\]$/g, "").replace(/\.$/, "").toLowerCase();
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
};

function webhookSecretError(s: string): string | null {
  if (!s.startsWith("whsec_")) return "The secret must start with whsec_";
  try {
    const n = atob(s.slice(6)).length;
    return n >= 16 && n <= 64 ? null : "The secret's key must be 16 to 64 bytes";
  } catch {
    return "The secret must be whsec_ followed by base64";
  }
}

/** Errors of a kind's settings, by field key. */
export function validateConfig(kind: ChannelKind, values: Record<string, string>): Record<string, string> {
  const e: Record<string, string> = {};
  for (const f of CONFIG_FIELDS[kind]) {
    const v = (values[f.key] ?? "").trim();
    if (!v) {
      if (f.required) e[f.key] = `${f.label} is required`;
      continue;
    }
    if (f.type === "url" && !isHttpUrl(v)) e[f.key] = `${f.label} must be an http:// or https:// URL`;
    if (f.type === "port" && (wholeNumber(v) === null || Number(v) > 65535)) e[f.key] = "The port must be a number from 1 to 65535";
    if (f.type === "email" && !v.includes("@")) e[f.key] = `${f.label} must be an email address`;
    if (f.type === "lines") {
      const bad = lines(v).find((a) => !a.includes("@"));
      if (bad) e[f.key] = `“${bad}” is not an email address`;
    }
  }
  if (kind === "webhook" && values.secret && !e.secret) {
    const s = webhookSecretError(values.secret);
    if (s) e.secret = s;
  }
  if (kind === "email") {
    const user = Boolean(values.username?.trim());
    const pass = Boolean(values.password);
    if (user !== pass) e[user ? "password" : "username"] = "Username and password go together: give both or neither";
    if (pass && values.tls === "none" && values.smtp_host && !isLoopback(values.smtp_host))
      e.tls = "With TLS none the password would cross the network in the clear: use starttls or implicit, or a relay on this host";
  }
  return e;
}

/** The `config` object sent: empty optional fields left out, numbers and lists typed. */
export function configBody(kind: ChannelKind, values: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of CONFIG_FIELDS[kind]) {
    const raw = values[f.key] ?? "";
    if (!raw.trim()) continue;
    const v = f.secret ? raw : raw.trim(); // a secret is sent as typed
    out[f.key] = f.type === "port" ? Number(v) : f.type === "lines" ? lines(v) : v;
  }
  return out;
}

function summary(config: Record<string, unknown>): string {
  return Object.entries(config)
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : String(v)}`)
    .join("; ");
}

export function ChannelsPage() {
  useTitle("Channels");
  const { can } = useSession();
  const client = useQueryClient();
  const [creating, setCreating] = useState(false);
  const [tested, setTested] = useState<{ channel: string; notification: Notification } | null>(null);
  const list = useQuery({ queryKey: ["channels"], queryFn: () => listChannels() });
  const toggle = useMutation({
    mutationFn: ({ id, enabled }: { id: string; enabled: boolean }) => updateChannel(id, { enabled }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["channels"] }),
  });
  const test = useMutation({
    mutationFn: (c: Channel) => testChannel(c.id),
    onSuccess: (notification, c) => {
      setTested({ channel: c.name, notification });
      void client.invalidateQueries({ queryKey: ["notifications"] });
    },
  });
  const writeDenied = can("channels:write") ? null : "Only admins can change channels (channels:write)";
  const testDenied = can("notifications:operate") ? null : "Your role cannot send test notifications (notifications:operate)";

  return (
    <section aria-labelledby="channels-title">
      <div className="page-head">
        <h1 id="channels-title">Channels</h1>
        <Button variant="primary" deniedReason={writeDenied} onClick={() => setCreating(true)}>
          Create channel
        </Button>
      </div>
      {tested && (
        <p className="alert alert-info" role="status">
          {`Test notification queued for ${tested.channel}: ${tested.notification.id}`}{" "}
          <Link to="/notifications">Follow it in Notifications</Link>
        </p>
      )}
      <ProblemAlert error={list.error ?? toggle.error ?? test.error} />
      {list.isPending && <Loading what="Loading channels" />}
      {list.data && list.data.data.length === 0 && <Empty>No notification channel yet.</Empty>}
      {list.data && list.data.data.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Settings</th>
                <th scope="col">Enabled</th>
                <th scope="col">Events</th>
                <th scope="col">Secrets set</th>
                <th scope="col">Updated</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((c) => (
                <tr key={c.id} data-testid="channel-row">
                  <td>{c.name}</td>
                  <td>{CHANNEL_KINDS[c.kind] ?? c.kind}</td>
                  <td>
                    <Truncated text={summary(c.config)} max={48} />
                  </td>
                  <td>
                    <span className={`badge badge-${c.enabled ? "enabled" : "disabled"}`}>{c.enabled ? "enabled" : "disabled"}</span>
                  </td>
                  <td>{c.event_types.join(", ")}</td>
                  <td>{c.secrets_set.length ? c.secrets_set.join(", ") : <span className="muted">none</span>}</td>
                  <td>
                    <When at={c.updated_at} />
                  </td>
                  <td>
                    <div className="actions">
                      <Button
                        deniedReason={writeDenied}
                        disabled={toggle.isPending}
                        aria-label={`${c.enabled ? "Disable" : "Enable"} channel ${c.name}`}
                        onClick={() => toggle.mutate({ id: c.id, enabled: !c.enabled })}
                      >
                        {c.enabled ? "Disable" : "Enable"}
                      </Button>
                      <Button
                        deniedReason={testDenied ?? (c.enabled ? null : "The channel is disabled: enable it first")}
                        disabled={test.isPending}
                        aria-label={`Send test to ${c.name}`}
                        onClick={() => test.mutate(c)}
                      >
                        Send test
                      </Button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Dialog open={creating} title="Create a channel" onClose={() => setCreating(false)}>
        <CreateChannelForm onDone={() => setCreating(false)} />
      </Dialog>
    </section>
  );
}

function CreateChannelForm({ onDone }: { onDone: () => void }) {
  const client = useQueryClient();
  const formRef = useRef<HTMLFormElement>(null);
  const [name, setName] = useState("");
  const [kind, setKind] = useState<ChannelKind>("webhook");
  const [values, setValues] = useState<Record<string, string>>(() => initialConfig("webhook"));
  const [events, setEvents] = useState<EventType[]>(["certificate_revoked", "expiration_warning"]);
  const [enabled, setEnabled] = useState(true);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const create = useMutation({
    mutationFn: (body: Schemas["ChannelIn"]) => createChannel(body),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["channels"] });
      onDone();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errs: Record<string, string> = validateConfig(kind, values);
    const n = nameError(name);
    if (n) errs.name = n;
    if (events.length === 0) errs.events = "Choose at least one event";
    setErrors(errs);
    if (Object.keys(errs).length) return focusFirstInvalid(formRef.current);
    create.mutate({ name, kind, config: configBody(kind, values), event_types: events, enabled });
  };
  const setValue = (k: string, v: string) => {
    setValues((x) => ({ ...x, [k]: v }));
    setErrors(({ [k]: _gone, ...rest }) => rest);
  };
  return (
    <form ref={formRef} className="stack wide" onSubmit={submit} noValidate aria-label="Create a channel" autoComplete="off">
      <Field label="Name" error={errors.name} hint="Unique, also against deleted channels.">
        {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field label="Kind" hint="Cannot be changed later.">
        {(p) => (
          <select
            {...p}
            value={kind}
            onChange={(e) => {
              const k = e.target.value as ChannelKind;
              setKind(k);
              setValues(initialConfig(k));
              setErrors({});
            }}
          >
            {keysOf(CHANNEL_KINDS).map((k) => (
              <option key={k} value={k}>
                {CHANNEL_KINDS[k]}
              </option>
            ))}
          </select>
        )}
      </Field>
      <fieldset className="group">
        <legend>{CHANNEL_KINDS[kind]} settings</legend>
        {CONFIG_FIELDS[kind].map((f) => (
          <Field key={`${kind}-${f.key}`} label={fieldLabel(f)} error={errors[f.key]} hint={f.hint}>
            {(p) =>
              f.type === "select" ? (
                <select {...p} value={values[f.key] ?? ""} onChange={(e) => setValue(f.key, e.target.value)}>
                  {f.options?.map((o) => (
                    <option key={o} value={o}>
                      {o}
                    </option>
                  ))}
                </select>
              ) : f.type === "lines" ? (
                <textarea {...p} rows={3} value={values[f.key] ?? ""} onChange={(e) => setValue(f.key, e.target.value)} spellCheck={false} />
              ) : (
                <input
                  {...p}
                  type={f.secret ? "password" : f.type === "port" ? "number" : f.type === "url" ? "url" : f.type === "email" ? "email" : "text"}
                  autoComplete={f.secret ? "new-password" : "off"}
                  spellCheck={false}
                  value={values[f.key] ?? ""}
                  onChange={(e) => setValue(f.key, e.target.value)}
                />
              )
            }
          </Field>
        ))}
      </fieldset>
      <CheckGroup legend="Events" options={EVENT_TYPES} value={events} onChange={setEvents} error={errors.events} />
      <Check label="Enabled" checked={enabled} onChange={setEnabled} />
      <SubmitRow error={create.error} pending={create.isPending} label="Create" onCancel={onDone} />
    </form>
  );
}
