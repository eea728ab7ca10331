// The signed-in operator, shared by every page: `me` (from GET /admin/me) and the means to
// read it again or sign out. Nothing here is persisted.

import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Me } from "./access";

export interface Session {
  me: Me;
  /** Reads `/admin/me` again (after a change of one's own memberships). */
  refresh: () => Promise<void>;
  signOut: () => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in console");
  return session;
}

/** What the sign-in form should start with (after accepting an invitation, say). */
export const prefill = { email: "" };
