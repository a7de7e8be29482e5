// The console's shell: query client, session, router, and the navigation every page shares.

import { useState, type FormEvent, type ReactNode } from "react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { BrowserRouter, NavLink, Navigate, Route, Routes } from "react-router";

import { ApiError } from "./api/client";
import { useSession, SessionProvider, type Permission } from "./auth/session";
import { Button, Loading, ProblemAlert } from "./components/ui";
import { DashboardPage } from "./pages/Dashboard";
import { NotificationsPage } from "./pages/Notifications";
import { pages } from "./pages/registry";

function makeClient() {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // A refusal will not change by asking again; other failures get one retry.
        retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 1,
        refetchOnWindowFocus: true,
        staleTime: 5_000,
      },
    },
  });
}

export function App() {
  const [client] = useState(makeClient);
  return (
    <QueryClientProvider client={client}>
      <SessionProvider>
        <BrowserRouter>
          <Shell />
        </BrowserRouter>
      </SessionProvider>
    </QueryClientProvider>
  );
}

interface NavItem {
  to: string;
  label: string;
  needs?: Permission;
}

const NAV: NavItem[] = [
  { to: "/", label: "Dashboard", needs: "certificates:read" },
  { to: "/certificates", label: "Certificates", needs: "certificates:read" },
  { to: "/discovery", label: "Discovery", needs: "certificates:read" },
  { to: "/approvals", label: "Approvals", needs: "certificates:read" },
  { to: "/notifications", label: "Notifications", needs: "certificates:read" },
  { to: "/channels", label: "Channels", needs: "certificates:read" },
  { to: "/issuers", label: "Issuers", needs: "certificates:read" },
  { to: "/profiles", label: "Profiles", needs: "certificates:read" },
  { to: "/renewal-policies", label: "Renewal policies", needs: "certificates:read" },
  { to: "/audit", label: "Audit log", needs: "audit:read" },
  { to: "/keys", label: "API keys", needs: "api_keys:manage" },
];

function Shell() {
  const { me, loading, signOut, can } = useSession();
  if (loading) return <Loading what="Checking your key" />;
  if (!me) return <SignIn />;
  const nav = NAV.filter((n) => !n.needs || can(n.needs));
  const home = nav[0]?.to ?? "/";
  return (
    <div className="shell">
      <a href="#main" className="skip">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">certctl</span>
        <span className="who">
          <span className="principal">{me.principal}</span> <span className="badge badge-role">{me.role}</span>
        </span>
        <Button onClick={signOut}>Sign out</Button>
      </header>
      <nav className="sidenav" aria-label="Main">
        <ul>
          {nav.map((n) => (
            <li key={n.to}>
              <NavLink to={n.to} end={n.to === "/"}>
                {n.label}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" className="content" tabIndex={-1}>
        <Routes>
          <Route path="/" element={guard(can("certificates:read"), <DashboardPage />, home)} />
          <Route path="/notifications" element={guard(can("certificates:read"), <NotificationsPage />, home)} />
          {pages.map((p) => (
            <Route key={p.path} path={p.path} element={guard(!p.needs || can(p.needs), p.element, home)} />
          ))}
          <Route path="*" element={<NotFound />} />
        </Routes>
      </main>
    </div>
  );
}

/** A page the role cannot read sends the user to one it can (an auditor lands on the audit log). */
function guard(allowed: boolean, page: ReactNode, home: string) {
  return allowed ? page : <Navigate to={home === "/" ? "/audit" : home} replace />;
}

function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>There is no page here.</p>
    </section>
  );
}

function SignIn() {
  const { signIn } = useSession();
  const [key, setKey] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(key);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin" id="main">
      <h1>certctl</h1>
      <form onSubmit={submit} aria-describedby="signin-help">
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={key}
          onChange={(e) => setKey(e.target.value)}
          required
        />
        <p id="signin-help" className="muted">
          The key stays in this browser tab only (session storage) and is sent to the API with each request.
        </p>
        <ProblemAlert error={error} />
        <button type="submit" className="btn btn-primary" disabled={busy || key.trim() === ""}>
          Sign in
        </button>
      </form>
    </main>
  );
}
