// Extension points: the parts of the app, tenant and end-user pages, each a small module.
// A later feature adds a section by writing one component and listing it here — no page
// changes. Each section says which permission it needs to be shown at all; inside, it
// disables what the caller's roles do not allow (see `access.can`) and the API decides.
// New top-level pages go in `pages/registry.ts` instead.

import type { ComponentType } from "preact";
import type { Permission } from "../access";
import type { Tenant, User } from "../api";
import { EmailDeliverySection } from "./email-delivery";
import { SignInMethodsSection } from "./signin-methods";
import { DeleteAppSection } from "./delete-app";
import { DeleteTenantSection } from "./delete-tenant";
import { DeleteUserSection } from "./delete-user";
import { OAuthSettingsSection } from "./oauth-settings";
import { ProvidersSection } from "./providers";
import { RedirectUrisSection } from "./redirect-uris";
import { SummarySection, StatusSection, SessionsSection, PlanSection, RolesSection, MetadataSection } from "./user";

export interface Section<P> {
  id: string;
  /** Shown only when the caller holds this on the page's app (or tenant). */
  requires: Permission;
  component: ComponentType<P>;
}

export interface AppSectionProps {
  app: string;
}

export interface TenantSectionProps {
  app: string;
  tenant: Tenant;
  /** Replaces the page's tenant after a change the section made. */
  onChange: (tenant: Tenant) => void;
}

export interface UserSectionProps {
  app: string;
  tenant: string;
  user: User;
  onChange: (user: User) => void;
}

/** The app page, under its tenant list. */
export const appSections: Section<AppSectionProps>[] = [
  { id: "email-delivery", requires: "tenants:read", component: EmailDeliverySection },
  // Shown to everyone who sees the app; only the platform owner is offered the button.
  { id: "delete-app", requires: "tenants:read", component: DeleteAppSection },
];

/** The tenant page. */
export const tenantSections: Section<TenantSectionProps>[] = [
  { id: "signin-methods", requires: "tenants:read", component: SignInMethodsSection },
  { id: "redirect-uris", requires: "tenants:read", component: RedirectUrisSection },
  { id: "providers", requires: "tenants:read", component: ProvidersSection },
  // Its OAuth authorization server: shown with clients:read, changed with clients:write.
  { id: "oauth", requires: "clients:read", component: OAuthSettingsSection },
  { id: "delete-tenant", requires: "tenants:write", component: DeleteTenantSection },
];

/** The end-user page. */
export const userSections: Section<UserSectionProps>[] = [
  { id: "summary", requires: "users:read", component: SummarySection },
  { id: "status", requires: "users:read", component: StatusSection },
  { id: "sessions", requires: "users:read", component: SessionsSection },
  { id: "plan", requires: "users:read", component: PlanSection },
  { id: "roles", requires: "users:read", component: RolesSection },
  { id: "metadata", requires: "users:read", component: MetadataSection },
  { id: "delete", requires: "users:read", component: DeleteUserSection },
];
