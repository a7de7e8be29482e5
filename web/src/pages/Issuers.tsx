// Issuers: the local certificate authorities. Every one is listed in one page (the API does not
// paginate issuers); admins (issuers:write) create roots and intermediates under a root, and
// disable an issuer (it then signs nothing; its CRL and OCSP go on) or enable it again.

import { useId, useRef, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate, useParams } from "react-router";

import { createIssuer, disableIssuer, enableIssuer, getIssuer, listIssuers, type Issuer, type KeyAlgorithm, type Schemas } from "../api/client";
import { useSession } from "../auth/session";
import { Field, KEY_ALGORITHMS, Pre, download, fileName, focusFirstInvalid, keysOf, nameError, useTitle, wholeNumber, SubmitRow } from "../components/forms";
import { Button, Dialog, Empty, Loading, ProblemAlert, When } from "../components/ui";

const DENIED = "Only admins can create issuers (issuers:write)";

export function IssuersPage() {
  useTitle("Issuers");
  const { can } = useSession();
  const [creating, setCreating] = useState(false);
  const list = useQuery({ queryKey: ["issuers"], queryFn: () => listIssuers() });
  const byId = new Map(list.data?.data.map((i) => [i.id, i]) ?? []);

  return (
    <section aria-labelledby="issuers-title">
      <div className="page-head">
        <h1 id="issuers-title">Issuers</h1>
        <Button variant="primary" deniedReason={can("issuers:write") ? null : DENIED} onClick={() => setCreating(true)}>
          Create issuer
        </Button>
      </div>
      <ProblemAlert error={list.error} />
      {list.isPending && <Loading what="Loading issuers" />}
      {list.data && list.data.data.length === 0 && <Empty>No issuer yet. An admin creates a root CA first.</Empty>}
      {list.data && list.data.data.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Common name</th>
                <th scope="col">Key</th>
                <th scope="col">Type</th>
                <th scope="col">Not after</th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((i) => (
                <tr key={i.id}>
                  <td>
                    <Link to={`/issuers/${i.id}`}>{i.name}</Link>
                    {i.disabled_at && <DisabledBadge />}
                  </td>
                  <td>{i.common_name}</td>
                  <td>{i.key_algorithm}</td>
                  <td>{i.is_root ? "root" : `intermediate under ${byId.get(i.parent_issuer_id ?? "")?.name ?? "?"}`}</td>
                  <td>
                    <When at={i.not_after} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Dialog open={creating} title="Create an issuer" onClose={() => setCreating(false)}>
        <CreateIssuerForm roots={list.data?.data.filter((i) => i.is_root) ?? []} onDone={() => setCreating(false)} />
      </Dialog>
    </section>
  );
}

interface Draft {
  name: string;
  common_name: string;
  key_algorithm: KeyAlgorithm;
  parent_issuer_id: string;
  validity_days: string;
  crl_shards: string;
}

export function validateIssuer(d: Draft): Partial<Record<keyof Draft, string>> {
  const e: Partial<Record<keyof Draft, string>> = {};
  const n = nameError(d.name);
  if (n) e.name = n;
  const cn = d.common_name.trim();
  if (!cn) e.common_name = "Common name is required";
  else if (cn.length > 64) e.common_name = "Common name must be at most 64 characters";
  if (d.validity_days.trim() !== "") {
    const v = wholeNumber(d.validity_days);
    if (v === null || v > 36_500) e.validity_days = "Validity must be a whole number of days from 1 to 36500";
  }
  if (d.crl_shards.trim() !== "" && d.crl_shards.trim() !== "0") {
    const v = wholeNumber(d.crl_shards);
    if (v === null || v < 2 || v > 256) e.crl_shards = "CRL shards must be 0 (one full CRL) or a whole number from 2 to 256";
  }
  return e;
}

function CreateIssuerForm({ roots, onDone }: { roots: Issuer[]; onDone: () => void }) {
  const client = useQueryClient();
  const navigate = useNavigate();
  const formRef = useRef<HTMLFormElement>(null);
  const [d, setD] = useState<Draft>({ name: "", common_name: "", key_algorithm: "ecdsa-p384", parent_issuer_id: "", validity_days: "", crl_shards: "" });
  const [errors, setErrors] = useState<Partial<Record<keyof Draft, string>>>({});
  const create = useMutation({
    mutationFn: (body: Schemas["IssuerIn"]) => createIssuer(body),
    onSuccess: (issuer) => {
      void client.invalidateQueries({ queryKey: ["issuers"] });
      void client.invalidateQueries({ queryKey: ["summary"] });
      onDone();
      navigate(`/issuers/${issuer.id}`);
    },
  });
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => {
    setD((x) => ({ ...x, [k]: v }));
    setErrors((e) => ({ ...e, [k]: undefined }));
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errs = validateIssuer(d);
    setErrors(errs);
    if (Object.values(errs).some(Boolean)) return focusFirstInvalid(formRef.current);
    const body: Schemas["IssuerIn"] = { name: d.name, common_name: d.common_name.trim(), key_algorithm: d.key_algorithm };
    if (d.parent_issuer_id) body.parent_issuer_id = d.parent_issuer_id;
    const days = wholeNumber(d.validity_days);
    if (days !== null) body.validity_days = days;
    const shards = wholeNumber(d.crl_shards);
    if (shards !== null) body.crl_shards = shards;
    create.mutate(body);
  };
  return (
    <form ref={formRef} className="stack" onSubmit={submit} noValidate aria-label="Create an issuer">
      <Field label="Name" error={errors.name} hint="Unique; 1–100 characters.">
        {(p) => <input {...p} value={d.name} onChange={(e) => set("name", e.target.value)} autoComplete="off" />}
      </Field>
      <Field label="Common name" error={errors.common_name} hint="The CA certificate's subject: CN=…">
        {(p) => <input {...p} value={d.common_name} onChange={(e) => set("common_name", e.target.value)} maxLength={64} autoComplete="off" />}
      </Field>
      <Field label="Key algorithm" hint="The CA's own key, generated and kept by the server; never returned.">
        {(p) => (
          <select {...p} value={d.key_algorithm} onChange={(e) => set("key_algorithm", e.target.value as KeyAlgorithm)}>
            {keysOf(KEY_ALGORITHMS).map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Parent (optional)" hint="None makes a self-signed root. Intermediates can only be made under a root.">
        {(p) => (
          <select {...p} value={d.parent_issuer_id} onChange={(e) => set("parent_issuer_id", e.target.value)}>
            <option value="">None: a self-signed root</option>
            {roots.map((r) => (
              <option key={r.id} value={r.id}>
                {r.name} ({r.common_name})
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field
        label="Validity (days)"
        error={errors.validity_days}
        hint={`Optional: ${d.parent_issuer_id ? "1825 for an intermediate, which may not outlast its parent" : "3650 for a root"} when empty.`}
      >
        {(p) => <input {...p} type="number" min={1} max={36500} step={1} value={d.validity_days} onChange={(e) => set("validity_days", e.target.value)} />}
      </Field>
      <Field
        label="CRL shards (optional)"
        error={errors.crl_shards}
        hint="Empty or 0: one full CRL. 2–256: the CRL is split into that many, each certificate pointing at its own, so none grows with the whole issuer. Fixed once created."
      >
        {(p) => <input {...p} type="number" min={0} max={256} step={1} value={d.crl_shards} onChange={(e) => set("crl_shards", e.target.value)} />}
      </Field>
      <SubmitRow error={create.error} pending={create.isPending} label="Create" onCancel={onDone} />
    </form>
  );
}

function DisabledBadge() {
  return (
    <span className="badge badge-disabled badge-note" title="Signs no certificate; its CRL and OCSP go on">
      disabled
    </span>
  );
}

export function IssuerDetailPage({ id: idProp }: { id?: string } = {}) {
  const params = useParams();
  const id = idProp ?? params.id ?? "";
  const headingId = useId();
  const { can } = useSession();
  const client = useQueryClient();
  const [disabling, setDisabling] = useState(false);
  const issuer = useQuery({ queryKey: ["issuer", id], queryFn: () => getIssuer(id), enabled: id !== "" });
  const all = useQuery({ queryKey: ["issuers"], queryFn: () => listIssuers() });
  const toggle = useMutation({
    mutationFn: (disable: boolean) => (disable ? disableIssuer(id) : enableIssuer(id)),
    onSuccess: (updated) => {
      setDisabling(false);
      client.setQueryData(["issuer", id], updated);
      void client.invalidateQueries({ queryKey: ["issuers"] });
    },
  });
  useTitle(issuer.data?.name ?? "Issuer");

  if (issuer.isPending && id) return <Loading what="Loading the issuer" />;
  if (issuer.error || !issuer.data)
    return (
      <section>
        <h1>Issuer</h1>
        <ProblemAlert error={issuer.error ?? new Error("No issuer id in the address.")} />
        <Link to="/issuers">All issuers</Link>
      </section>
    );
  const i = issuer.data;
  const parent = all.data?.data.find((x) => x.id === i.parent_issuer_id);
  const children = all.data?.data.filter((x) => x.parent_issuer_id === i.id) ?? [];
  return (
    <section className="detail" aria-labelledby={headingId}>
      <p className="crumbs">
        <Link to="/issuers">Issuers</Link> /
      </p>
      <div className="page-head">
        <h1 id={headingId}>{i.name}</h1>
        <div className="actions">
          <Link className="btn" to={`/certificates?issuer_id=${i.id}`}>
            Certificates from this issuer
          </Link>
          <Button onClick={() => download(fileName(i.name, "pem"), i.certificate_pem)}>Download certificate</Button>
          {can("issuers:write") &&
            (i.disabled_at ? (
              <Button disabled={toggle.isPending} onClick={() => toggle.mutate(false)}>
                Enable
              </Button>
            ) : (
              <Button
                variant="danger"
                onClick={() => {
                  toggle.reset();
                  setDisabling(true);
                }}
              >
                Disable
              </Button>
            ))}
        </div>
      </div>
      {!disabling && <ProblemAlert error={toggle.error} />}
      <dl className="fields">
        <dt>State</dt>
        <dd>
          {i.disabled_at ? (
            <>
              <span className="badge badge-disabled">disabled</span> since <When at={i.disabled_at} />: it signs no certificate
              (issuance, renewals and enrollments under it are refused); its CRL and OCSP go on.
            </>
          ) : (
            <span className="badge badge-enabled">enabled</span>
          )}
        </dd>
        <dt>Common name</dt>
        <dd>{i.common_name}</dd>
        <dt>Type</dt>
        <dd>{i.is_root ? "root (self-signed)" : "intermediate (issues end-entity certificates only)"}</dd>
        {i.parent_issuer_id && (
          <>
            <dt>Parent</dt>
            <dd>
              <Link to={`/issuers/${i.parent_issuer_id}`}>{parent?.name ?? i.parent_issuer_id}</Link>
            </dd>
          </>
        )}
        {children.length > 0 && (
          <>
            <dt>Intermediates</dt>
            <dd>
              <ul className="plain">
                {children.map((c) => (
                  <li key={c.id}>
                    <Link to={`/issuers/${c.id}`}>{c.name}</Link>
                  </li>
                ))}
              </ul>
            </dd>
          </>
        )}
        <dt>Key algorithm</dt>
        <dd>{i.key_algorithm}</dd>
        <dt>CRL</dt>
        <dd>{i.crl_shards > 0 ? `partitioned into ${i.crl_shards} shards` : "one full CRL"}</dd>
        <dt>Serial</dt>
        <dd className="mono">{i.serial_hex}</dd>
        <dt>Valid from</dt>
        <dd>
          <When at={i.not_before} />
        </dd>
        <dt>Valid until</dt>
        <dd>
          <When at={i.not_after} />
        </dd>
        <dt>Created</dt>
        <dd>
          <When at={i.created_at} /> by {i.created_by}
        </dd>
        <dt>Id</dt>
        <dd className="mono">{i.id}</dd>
      </dl>
      <h2>Certificate (PEM)</h2>
      <Pre label="Issuer certificate (PEM)">{i.certificate_pem}</Pre>
      <Dialog open={disabling} title="Disable this issuer?" onClose={() => setDisabling(false)}>
        <div className="stack">
          <p>{`Disable ${i.name} (${i.common_name})?`}</p>
          <p>
            From now on it signs no certificate: issuance, renewals and enrollments under it are refused, and automatic renewals
            under it fail and are retried by their policy. Its CRL and OCSP go on. It can be enabled again.
          </p>
          <ProblemAlert error={toggle.error} />
          <div className="actions">
            <Button variant="danger" disabled={toggle.isPending} onClick={() => toggle.mutate(true)}>
              Disable issuer
            </Button>
            <Button onClick={() => setDisabling(false)}>Cancel</Button>
          </div>
        </div>
      </Dialog>
    </section>
  );
}
