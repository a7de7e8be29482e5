// Profiles: the policy each certificate is issued under (key types, lifetime, EKUs, names,
// approval) and the renewal policy its certificates follow. Listed in one page by name; admins
// (profiles:write) create them and change a profile's renewal policy.

import { useId, useRef, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate, useParams } from "react-router";

import {
  createProfile,
  getProfile,
  listProfiles,
  listRenewalPolicies,
  replaceProfile,
  type KeyAlgorithm,
  type Profile,
  type RenewalPolicy,
  type Schemas,
} from "../api/client";
import { useSession } from "../auth/session";
import {
  Check,
  CheckGroup,
  EKUS,
  Field,
  KEY_ALGORITHMS,
  duration,
  focusFirstInvalid,
  lines,
  nameError,
  useTitle,
  wholeNumber, SubmitRow } from "../components/forms";
import { Button, Dialog, Empty, Loading, ProblemAlert, When } from "../components/ui";

type Eku = Schemas["Eku"];
const DENIED = "Only admins can create profiles (profiles:write)";
const MAX_DAYS = 3650; // the API's ten years: 315360000 s

const yesNo = (b: boolean) => (b ? "yes" : "no");

export function ProfilesPage() {
  useTitle("Profiles");
  const { can } = useSession();
  const [creating, setCreating] = useState(false);
  const list = useQuery({ queryKey: ["profiles"], queryFn: () => listProfiles() });
  return (
    <section aria-labelledby="profiles-title">
      <div className="page-head">
        <h1 id="profiles-title">Profiles</h1>
        <Button variant="primary" deniedReason={can("profiles:write") ? null : DENIED} onClick={() => setCreating(true)}>
          Create profile
        </Button>
      </div>
      <ProblemAlert error={list.error} />
      {list.isPending && <Loading what="Loading profiles" />}
      {list.data && list.data.data.length === 0 && <Empty>No profile yet. An admin creates one before certificates can be issued.</Empty>}
      {list.data && list.data.data.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Max lifetime</th>
                <th scope="col">Key algorithms</th>
                <th scope="col">Approval required</th>
                <th scope="col">Revision</th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((p) => (
                <tr key={p.id}>
                  <td>
                    <Link to={`/profiles/${p.id}`}>{p.name}</Link>
                  </td>
                  <td>{duration(p.max_ttl_seconds)}</td>
                  <td>{p.allowed_key_algorithms.join(", ")}</td>
                  <td>{p.requires_approval ? <span className="badge badge-awaiting_approval">required</span> : "no"}</td>
                  <td>{p.revision}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Dialog open={creating} title="Create a profile" onClose={() => setCreating(false)}>
        <CreateProfileForm onDone={() => setCreating(false)} />
      </Dialog>
    </section>
  );
}

export interface ProfileDraft {
  name: string;
  description: string;
  max_days: string;
  keys: KeyAlgorithm[];
  ekus: Eku[];
  domains: string;
  allow_subdomains: boolean;
  allow_wildcards: boolean;
  allow_ip_addresses: boolean;
  max_names: string;
  requires_approval: boolean;
  allow_short_lived: boolean;
  /** Empty: the built-in renewal policy. */
  renewal_policy_id: string;
}

export type ProfileErrors = Partial<Record<keyof ProfileDraft, string>>;

export function validateProfile(d: ProfileDraft): ProfileErrors {
  const e: ProfileErrors = {};
  const n = nameError(d.name);
  if (n) e.name = n;
  const days = wholeNumber(d.max_days);
  if (days === null || days > MAX_DAYS) e.max_days = `Max lifetime must be a whole number of days from 1 to ${MAX_DAYS}`;
  if (d.keys.length === 0) e.keys = "Allow at least one key algorithm";
  if (d.ekus.length === 0) e.ekus = "Choose at least one extended key usage";
  if (d.max_names.trim() !== "" && wholeNumber(d.max_names, 0) === null) e.max_names = "Max names must be a whole number (0 means 100)";
  const bad = lines(d.domains).find((x) => !/^[A-Za-z0-9*]([A-Za-z0-9.*-]*[A-Za-z0-9])?$/.test(x));
  if (bad) e.domains = `“${bad}” is not a DNS name`;
  return e;
}

export function profileBody(d: ProfileDraft): Schemas["ProfileIn"] {
  return {
    name: d.name,
    description: d.description.trim(),
    max_ttl_seconds: (wholeNumber(d.max_days) ?? 0) * 86_400,
    allowed_key_algorithms: d.keys,
    ekus: d.ekus,
    san_rules: {
      allowed_domains: lines(d.domains),
      allow_subdomains: d.allow_subdomains,
      allow_wildcards: d.allow_wildcards,
      allow_ip_addresses: d.allow_ip_addresses,
      max_names: wholeNumber(d.max_names, 0) ?? 0,
    },
    requires_approval: d.requires_approval,
    allow_short_lived: d.allow_short_lived,
    ...(d.renewal_policy_id ? { renewal_policy_id: d.renewal_policy_id } : {}),
  };
}

/** A profile's body as it stands, for a replacement that changes only its renewal policy. */
export function profileAsBody(p: Profile, renewal_policy_id: string | null): Schemas["ProfileIn"] {
  return {
    name: p.name,
    description: p.description,
    max_ttl_seconds: p.max_ttl_seconds,
    allowed_key_algorithms: p.allowed_key_algorithms,
    ekus: p.ekus,
    san_rules: p.san_rules,
    requires_approval: p.requires_approval,
    allow_short_lived: p.allow_short_lived,
    renewal_policy_id,
  };
}

const usePolicies = () => useQuery({ queryKey: ["renewal-policies"], queryFn: () => listRenewalPolicies() });

/** The policies a profile can name: the built-in one is what "no policy" means, so it is left out
 * (unless the profile names it outright). */
const choosable = (policies: RenewalPolicy[], value: string) => policies.filter((p) => !p.built_in || p.id === value);

/** The renewal policy select: "built-in policy" (empty) or one of the others. */
function PolicySelect({ value, onChange, policies, hint }: { value: string; onChange: (v: string) => void; policies: RenewalPolicy[]; hint?: string }) {
  return (
    <Field label="Renewal policy" hint={hint}>
      {(p) => (
        <select {...p} value={value} onChange={(e) => onChange(e.target.value)}>
          <option value="">built-in policy</option>
          {choosable(policies, value).map((rp) => (
            <option key={rp.id} value={rp.id}>
              {rp.name}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

function CreateProfileForm({ onDone }: { onDone: () => void }) {
  const client = useQueryClient();
  const navigate = useNavigate();
  const formRef = useRef<HTMLFormElement>(null);
  const [d, setD] = useState<ProfileDraft>({
    name: "",
    description: "",
    max_days: "90",
    keys: ["ecdsa-p256"],
    ekus: ["server_auth"],
    domains: "",
    allow_subdomains: false,
    allow_wildcards: false,
    allow_ip_addresses: false,
    max_names: "",
    requires_approval: false,
    allow_short_lived: false,
    renewal_policy_id: "",
  });
  const [errors, setErrors] = useState<ProfileErrors>({});
  const policies = usePolicies();
  const create = useMutation({
    mutationFn: (body: Schemas["ProfileIn"]) => createProfile(body),
    onSuccess: (p) => {
      void client.invalidateQueries({ queryKey: ["profiles"] });
      onDone();
      navigate(`/profiles/${p.id}`);
    },
  });
  const set = <K extends keyof ProfileDraft>(k: K, v: ProfileDraft[K]) => {
    setD((x) => ({ ...x, [k]: v }));
    setErrors((e) => ({ ...e, [k]: undefined }));
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errs = validateProfile(d);
    setErrors(errs);
    if (Object.values(errs).some(Boolean)) return focusFirstInvalid(formRef.current);
    create.mutate(profileBody(d));
  };
  return (
    <form ref={formRef} className="stack wide" onSubmit={submit} noValidate aria-label="Create a profile">
      <Field label="Name" error={errors.name} hint="Unique; 1–100 characters.">
        {(p) => <input {...p} value={d.name} onChange={(e) => set("name", e.target.value)} autoComplete="off" />}
      </Field>
      <Field label="Description">
        {(p) => <input {...p} value={d.description} onChange={(e) => set("description", e.target.value)} autoComplete="off" />}
      </Field>
      <Field label="Max lifetime (days)" error={errors.max_days} hint="Also the default lifetime of a certificate issued under it.">
        {(p) => <input {...p} type="number" min={1} max={MAX_DAYS} step={1} value={d.max_days} onChange={(e) => set("max_days", e.target.value)} />}
      </Field>
      <CheckGroup legend="Allowed key algorithms" options={KEY_ALGORITHMS} value={d.keys} onChange={(v) => set("keys", v)} error={errors.keys} />
      <CheckGroup
        legend="Extended key usages"
        options={EKUS}
        value={d.ekus}
        onChange={(v) => set("ekus", v)}
        error={errors.ekus}
        hint="All of them are written into every certificate."
      />
      <fieldset className="group">
        <legend>SAN rules</legend>
        <Field label="Allowed domains" error={errors.domains} hint="One per line. Empty: any valid DNS name.">
          {(p) => <textarea {...p} rows={3} value={d.domains} onChange={(e) => set("domains", e.target.value)} spellCheck={false} />}
        </Field>
        <Check label="Allow subdomains" checked={d.allow_subdomains} onChange={(v) => set("allow_subdomains", v)} hint="Also names under an allowed domain." />
        <Check
          label="Allow wildcards"
          checked={d.allow_wildcards}
          onChange={(v) => set("allow_wildcards", v)}
          hint="*.name; with allowed domains, wildcards also need subdomains."
        />
        <Check label="Allow IP addresses" checked={d.allow_ip_addresses} onChange={(v) => set("allow_ip_addresses", v)} />
        <Field label="Max names" error={errors.max_names} hint="Per certificate, counting the common name; 0 or empty means 100.">
          {(p) => <input {...p} type="number" min={0} step={1} value={d.max_names} onChange={(e) => set("max_names", e.target.value)} />}
        </Field>
      </fieldset>
      <Check
        label="Requires approval"
        checked={d.requires_approval}
        onChange={(v) => set("requires_approval", v)}
        hint="Issuance and renewal file a job that someone other than the requester approves; only CSRs are accepted."
      />
      <Check
        label="Allow short-lived"
        checked={d.allow_short_lived}
        onChange={(v) => set("allow_short_lived", v)}
        hint="Lifetimes under an hour: no CRL or OCSP URLs (RFC 9608)."
      />
      <PolicySelect
        value={d.renewal_policy_id}
        onChange={(v) => set("renewal_policy_id", v)}
        policies={policies.data?.data ?? []}
        hint="When its certificates renew, and how. A certificate can follow another policy of its own."
      />
      <ProblemAlert error={policies.error} />
      <SubmitRow error={create.error} pending={create.isPending} label="Create" onCancel={onDone} />
    </form>
  );
}

export function ProfileDetailPage({ id: idProp }: { id?: string } = {}) {
  const params = useParams();
  const id = idProp ?? params.id ?? "";
  const headingId = useId();
  const profile = useQuery({ queryKey: ["profile", id], queryFn: () => getProfile(id), enabled: id !== "" });
  const policies = usePolicies();
  const { can } = useSession();
  useTitle(profile.data?.name ?? "Profile");

  if (profile.isPending && id) return <Loading what="Loading the profile" />;
  if (profile.error || !profile.data)
    return (
      <section>
        <h1>Profile</h1>
        <ProblemAlert error={profile.error ?? new Error("No profile id in the address.")} />
        <Link to="/profiles">All profiles</Link>
      </section>
    );
  const p = profile.data;
  const r = p.san_rules;
  const all = policies.data?.data ?? [];
  const policy = p.renewal_policy_id ? all.find((x) => x.id === p.renewal_policy_id) : all.find((x) => x.built_in);
  return (
    <section className="detail" aria-labelledby={headingId}>
      <p className="crumbs">
        <Link to="/profiles">Profiles</Link> /
      </p>
      <div className="page-head">
        <h1 id={headingId}>{p.name}</h1>
        <Link className="btn" to={`/certificates?profile_id=${p.id}`}>
          Certificates under this profile
        </Link>
      </div>
      {p.description && <p>{p.description}</p>}
      <dl className="fields">
        <dt>Max lifetime</dt>
        <dd>
          {duration(p.max_ttl_seconds)} ({p.max_ttl_seconds} s)
        </dd>
        <dt>Key algorithms</dt>
        <dd>{p.allowed_key_algorithms.join(", ")}</dd>
        <dt>Extended key usages</dt>
        <dd>{p.ekus.join(", ")}</dd>
        <dt>Requires approval</dt>
        <dd>{yesNo(p.requires_approval)}</dd>
        <dt>Allow short-lived</dt>
        <dd>{yesNo(p.allow_short_lived)}</dd>
        <dt>Renewal policy</dt>
        <dd>
          {p.renewal_policy_id ? (
            <Link to="/renewal-policies">{policy?.name ?? p.renewal_policy_id}</Link>
          ) : (
            <>
              built-in policy
              {policy && (
                <>
                  {" ("}
                  <Link to="/renewal-policies">{policy.name}</Link>)
                </>
              )}
            </>
          )}
        </dd>
        <dt>Revision</dt>
        <dd>{p.revision}</dd>
        <dt>Created</dt>
        <dd>
          <When at={p.created_at} />
        </dd>
        <dt>Updated</dt>
        <dd>
          <When at={p.updated_at} />
        </dd>
        <dt>Id</dt>
        <dd className="mono">{p.id}</dd>
      </dl>
      <h2>SAN rules</h2>
      <dl className="fields">
        <dt>Allowed domains</dt>
        <dd>{r.allowed_domains.length ? r.allowed_domains.join(", ") : "any valid DNS name"}</dd>
        <dt>Subdomains</dt>
        <dd>{yesNo(r.allow_subdomains)}</dd>
        <dt>Wildcards</dt>
        <dd>{yesNo(r.allow_wildcards)}</dd>
        <dt>IP addresses</dt>
        <dd>{yesNo(r.allow_ip_addresses)}</dd>
        <dt>Max names</dt>
        <dd>{r.max_names === 0 ? "100 (default)" : r.max_names}</dd>
      </dl>
      <ProblemAlert error={policies.error} />
      {can("profiles:write") && policies.data && (
        <>
          <h2>Renewal policy</h2>
          <ProfilePolicyForm key={`${p.id}-${p.revision}`} profile={p} policies={all} />
        </>
      )}
    </section>
  );
}

/** Changes a profile's renewal policy: a replacement of the whole profile, as the API has it. */
function ProfilePolicyForm({ profile, policies }: { profile: Profile; policies: RenewalPolicy[] }) {
  const client = useQueryClient();
  const [value, setValue] = useState(profile.renewal_policy_id ?? "");
  const save = useMutation({
    mutationFn: (policy: string | null) => replaceProfile(profile.id, profileAsBody(profile, policy)),
    onSuccess: (updated) => {
      client.setQueryData(["profile", profile.id], updated);
      void client.invalidateQueries({ queryKey: ["profiles"] });
      void client.invalidateQueries({ queryKey: ["certificate"] });
    },
  });
  return (
    <form
      className="stack"
      aria-label="Renewal policy of this profile"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate(value || null);
      }}
    >
      <PolicySelect
        value={value}
        onChange={(v) => {
          setValue(v);
          save.reset();
        }}
        policies={policies}
        hint="Saving replaces the profile (its revision goes up by one, so approval jobs filed under this revision are refused when approved) and recomputes the renewal windows of its live certificates that have no policy of their own."
      />
      <ProblemAlert error={save.error} />
      <div className="actions">
        <Button type="submit" disabled={save.isPending || value === (profile.renewal_policy_id ?? "")}>
          Save renewal policy
        </Button>
      </div>
    </form>
  );
}
