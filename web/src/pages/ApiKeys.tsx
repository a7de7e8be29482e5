// API keys (api_keys:manage): every key in one page, oldest first. A new key's secret is shown
// once, in a read-only field with a Copy button, and is gone once dismissed: the API never returns
// it again. Disabling is final and asks for confirmation.

import { useRef, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { createKey, disableKey, listKeys, type ApiKey, type ApiKeyCreated, type Role, type Schemas } from "../api/client";
import { useSession } from "../auth/session";
import { CopyOnce, Field, ROLES, focusFirstInvalid, keysOf, nameError, useTitle, wholeNumber } from "../components/forms";
import { Button, Dialog, Empty, Loading, ProblemAlert, When } from "../components/ui";

interface Draft {
  name: string;
  role: Role;
  principal: string;
  expires_days: string;
}

export type KeyErrors = Partial<Record<keyof Draft, string>>;

export function validateKey(d: Draft): KeyErrors {
  const e: KeyErrors = {};
  const n = nameError(d.name);
  if (n) e.name = n;
  if (d.principal !== "") {
    const p = nameError(d.principal, "Principal");
    if (p) e.principal = p;
  }
  if (d.expires_days.trim() !== "" && wholeNumber(d.expires_days) === null) e.expires_days = "Expiry must be a positive whole number of days";
  return e;
}

/** The request body; `now` in ms, for `expires_at`. */
export function keyBody(d: Draft, now = Date.now()): Schemas["ApiKeyIn"] {
  const body: Schemas["ApiKeyIn"] = { name: d.name, role: d.role };
  if (d.principal !== "") body.principal = d.principal;
  const days = wholeNumber(d.expires_days);
  if (days !== null) body.expires_at = new Date(now + days * 86_400_000).toISOString().replace(/\.\d+Z$/, "Z");
  return body;
}

const state = (k: ApiKey, now = Date.now()) =>
  k.disabled_at ? "disabled" : k.expires_at && new Date(k.expires_at).getTime() <= now ? "expired" : "active";

export function ApiKeysPage() {
  useTitle("API keys");
  const { me } = useSession();
  const client = useQueryClient();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const [disabling, setDisabling] = useState<ApiKey | null>(null);
  const list = useQuery({ queryKey: ["api-keys"], queryFn: () => listKeys() });
  const disable = useMutation({
    mutationFn: (id: string) => disableKey(id),
    onSuccess: () => {
      setDisabling(null);
      void client.invalidateQueries({ queryKey: ["api-keys"] });
    },
  });

  return (
    <section aria-labelledby="keys-title">
      <div className="page-head">
        <h1 id="keys-title">API keys</h1>
        <Button
          variant="primary"
          onClick={() => {
            setCreated(null);
            setCreating(true);
          }}
        >
          Create key
        </Button>
      </div>

      {created && (
        <div className="card secret-once" role="region" aria-label="New API key">
          <div className="alert alert-warn" role="alert">
            <strong>Copy this key now.</strong> It is shown this once: certctl keeps only a hash of it and cannot show it again.
          </div>
          <CopyOnce label={`Secret of ${created.name} (${created.role})`} value={created.key} />
          <div className="actions">
            <Button onClick={() => setCreated(null)}>I have saved it</Button>
          </div>
        </div>
      )}

      <ProblemAlert error={list.error} />
      {list.isPending && <Loading what="Loading API keys" />}
      {list.data && list.data.data.length === 0 && <Empty>No API key.</Empty>}
      {list.data && list.data.data.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Principal</th>
                <th scope="col">Role</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">Disabled</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((k) => (
                <tr key={k.id} data-testid="key-row">
                  <td>
                    {k.name}
                    {me?.key_id === k.id && <span className="badge badge-note">this session</span>}
                  </td>
                  <td>{k.principal}</td>
                  <td>{k.role}</td>
                  <td>
                    <When at={k.created_at} /> <span className="muted">by {k.created_by}</span>
                  </td>
                  <td>{k.last_used_at ? <When at={k.last_used_at} /> : <span className="muted">never</span>}</td>
                  <td>{k.expires_at ? <When at={k.expires_at} /> : <span className="muted">never</span>}</td>
                  <td>{k.disabled_at ? <When at={k.disabled_at} /> : state(k) === "expired" ? <span className="badge badge-expired">expired</span> : "no"}</td>
                  <td>
                    {!k.disabled_at && (
                      <Button
                        variant="danger"
                        aria-label={`Disable key ${k.name}`}
                        onClick={() => {
                          disable.reset();
                          setDisabling(k);
                        }}
                      >
                        Disable
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <Dialog open={creating} title="Create an API key" onClose={() => setCreating(false)}>
        <CreateKeyForm
          onCreated={(k) => {
            setCreating(false);
            setCreated(k);
          }}
          onCancel={() => setCreating(false)}
        />
      </Dialog>
      <Dialog open={disabling !== null} title="Disable this key?" onClose={() => setDisabling(null)}>
        {disabling && (
          <div className="stack">
            <p>{`Disable ${disabling.name} (principal ${disabling.principal}, ${disabling.role})?`}</p>
            <p>It stops working at once. A disabled key cannot be enabled again or deleted.</p>
            {me?.key_id === disabling.id && (
              <p className="alert alert-warn">This is the key you are signed in with: you will be signed out on your next request.</p>
            )}
            <ProblemAlert error={disable.error} />
            <div className="actions">
              <Button variant="danger" disabled={disable.isPending} onClick={() => disable.mutate(disabling.id)}>
                Disable key
              </Button>
              <Button onClick={() => setDisabling(null)}>Cancel</Button>
            </div>
          </div>
        )}
      </Dialog>
    </section>
  );
}

function CreateKeyForm({ onCreated, onCancel }: { onCreated: (k: ApiKeyCreated) => void; onCancel: () => void }) {
  const client = useQueryClient();
  const formRef = useRef<HTMLFormElement>(null);
  const [d, setD] = useState<Draft>({ name: "", role: "viewer", principal: "", expires_days: "" });
  const [errors, setErrors] = useState<KeyErrors>({});
  const create = useMutation({
    mutationFn: (body: Schemas["ApiKeyIn"]) => createKey(body),
    onSuccess: (k) => {
      void client.invalidateQueries({ queryKey: ["api-keys"] });
      onCreated(k);
    },
  });
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => {
    setD((x) => ({ ...x, [k]: v }));
    setErrors((e) => ({ ...e, [k]: undefined }));
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errs = validateKey(d);
    setErrors(errs);
    if (Object.values(errs).some(Boolean)) return focusFirstInvalid(formRef.current);
    create.mutate(keyBody(d));
  };
  return (
    <form ref={formRef} className="stack" onSubmit={submit} noValidate aria-label="Create an API key">
      <Field label="Name" error={errors.name} hint="Unique; 1–100 characters.">
        {(p) => <input {...p} value={d.name} onChange={(e) => set("name", e.target.value)} autoComplete="off" />}
      </Field>
      <Field label="Role">
        {(p) => (
          <select {...p} value={d.role} onChange={(e) => set("role", e.target.value as Role)}>
            {keysOf(ROLES).map((r) => (
              <option key={r} value={r}>
                {ROLES[r]}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field
        label="Principal (optional)"
        error={errors.principal}
        hint="Who the key acts for, as audit shows it and as self-approval compares it; the name when empty. A label you choose: certctl does not verify it."
      >
        {(p) => <input {...p} value={d.principal} onChange={(e) => set("principal", e.target.value)} autoComplete="off" />}
      </Field>
      <Field label="Expires in (days)" error={errors.expires_days} hint="Optional: never expires when empty.">
        {(p) => <input {...p} type="number" min={1} step={1} value={d.expires_days} onChange={(e) => set("expires_days", e.target.value)} />}
      </Field>
      <ProblemAlert error={create.error} />
      <div className="actions">
        <Button type="submit" variant="primary" disabled={create.isPending}>
          Create
        </Button>
        <Button onClick={onCancel}>Cancel</Button>
      </div>
    </form>
  );
}
