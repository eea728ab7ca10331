// Extension point: the console's pages. Each is one module; the shell builds the navigation
// and the routes from this list, and shows a page's link only enabled when the caller holds
// `requires` where the page acts (the app, or the tenant shown). The API checks every call
// again, so a page reached by its address still gets the API's own answer. A new permission
// goes into `access.ts`'s list.

import type { ComponentType } from "preact";
import type { Permission } from "../access";
import { ApiKeysPage } from "./apikeys";
import { AppPage } from "./app";
import { AuditPage } from "./audit";
import { ClientsPage } from "./clients";
import { OperatorRolesPage } from "./operator-roles";
import { TeamPage } from "./team";
import { TenantPage } from "./tenant";
import { UsersPage } from "./users";

export interface PageProps {
  app: string;
  /** The tenant, for pages of tenant scope. */
  tenant: string;
  /** The path's segments after the page's own (e.g. a user id). */
  rest: string[];
  /** The parameters after `?` in the fragment (filters). */
  query: URLSearchParams;
}

export interface PageDef {
  id: string;
  /** The navigation's label. */
  label: string;
  /** `app`: `#/apps/{app}/{segment}`; `tenant`: `#/apps/{app}/tenants/{tenant}/{segment}`. */
  scope: "app" | "tenant";
  /** "" for the scope's home. */
  segment: string;
  requires: Permission;
  component: ComponentType<PageProps>;
}

export const pages: PageDef[] = [
  { id: "app", label: "Tenants", scope: "app", segment: "", requires: "tenants:read", component: AppPage },
  { id: "team", label: "Team", scope: "app", segment: "team", requires: "members:read", component: TeamPage },
  { id: "audit", label: "Audit log", scope: "app", segment: "audit", requires: "audit:read", component: AuditPage },
  { id: "operator-roles", label: "Operator roles", scope: "app", segment: "operator-roles", requires: "members:read", component: OperatorRolesPage },
  { id: "tenant", label: "Settings", scope: "tenant", segment: "", requires: "tenants:read", component: TenantPage },
  { id: "users", label: "End users", scope: "tenant", segment: "users", requires: "users:read", component: UsersPage },
  { id: "api-keys", label: "API keys", scope: "tenant", segment: "api-keys", requires: "apikeys:write", component: ApiKeysPage },
  { id: "clients", label: "OAuth clients", scope: "tenant", segment: "clients", requires: "clients:read", component: ClientsPage },
];

/** The hash path of a page. */
export function pagePath(page: PageDef, app: string, tenant: string | null): string[] {
  const base = page.scope === "app" ? ["apps", app] : ["apps", app, "tenants", tenant ?? ""];
  return page.segment ? [...base, page.segment] : base;
}

export interface Resolved {
  page: PageDef;
  app: string;
  tenant: string | null;
  rest: string[];
}

/** The page a route names (`["apps", app, …]`), or null. */
export function resolvePage(segments: readonly string[]): Resolved | null {
  if (segments[0] !== "apps" || !segments[1]) return null;
  const app = segments[1];
  let scope: "app" | "tenant" = "app";
  let tenant: string | null = null;
  let rest = segments.slice(2);
  if (rest[0] === "tenants" && rest[1]) {
    scope = "tenant";
    tenant = rest[1];
    rest = rest.slice(2);
  }
  const segment = rest[0] ?? "";
  const page =
    pages.find((p) => p.scope === scope && p.segment === segment && segment !== "") ??
    (segment === "" ? pages.find((p) => p.scope === scope && p.segment === "") : undefined);
  if (!page) return null;
  return { page, app, tenant, rest: page.segment ? rest.slice(1) : rest };
}
