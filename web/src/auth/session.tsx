// Who is signed in: the API key of this tab (sessionStorage), checked with GET /auth/me, and what
// its role may do (the permissions the server reports, which each operation of the API names).

import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";

import { me as fetchMe, session, type Me } from "../api/client";

export type Permission =
  | "certificates:read"
  | "certificates:write"
  | "certificates:bulk_revoke"
  | "profiles:write"
  | "issuers:write"
  | "jobs:decide"
  | "api_keys:manage"
  | "audit:read"
  | "channels:write"
  | "notifications:operate"
  | "discovery:manage";

interface Session {
  me: Me | null;
  loading: boolean;
  signIn: (key: string) => Promise<Me>;
  signOut: () => void;
  can: (p: Permission) => boolean;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const [hasKey, setHasKey] = useState(() => session.get() !== null);
  const query = useQuery({
    queryKey: ["me"],
    queryFn: () => fetchMe(),
    enabled: hasKey,
    retry: false,
    staleTime: 60_000,
  });
  const signIn = useCallback(
    async (key: string) => {
      const who = await fetchMe(key.trim());
      session.set(key.trim());
      client.setQueryData(["me"], who);
      setHasKey(true);
      return who;
    },
    [client],
  );
  const signOut = useCallback(() => {
    session.clear();
    setHasKey(false);
    client.clear();
  }, [client]);
  const me = hasKey ? (query.data ?? null) : null;
  const value = useMemo<Session>(
    () => ({
      me,
      loading: hasKey && query.isPending,
      signIn,
      signOut,
      can: (p) => me?.permissions.includes(p) ?? false,
    }),
    [me, hasKey, query.isPending, signIn, signOut],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession outside SessionProvider");
  return s;
}
