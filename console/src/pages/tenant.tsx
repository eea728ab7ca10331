// A tenant: its sections (sign-in methods and links, then whatever later features add).

import { can } from "../access";
import { admin } from "../api";
import { tenantSections } from "../sections/registry";
import { useSession } from "../session";
import { LoadState, useLoad } from "../ui";
import type { PageProps } from "./registry";

export function TenantPage({ app, tenant }: PageProps) {
  const { me } = useSession();
  const load = useLoad(() => admin.tenant(app, tenant), [app, tenant]);
  const current = load.data?.tenant;
  return (
    <>
      <h1 tabIndex={-1}>
        Tenant {tenant} <span class="muted">of {app}</span>
      </h1>
      <LoadState load={load} what="the tenant" />
      {current
        ? tenantSections
            .filter((s) => can(me, s.requires, app, tenant))
            .map((s) => <s.component key={`${s.id}:${app}:${tenant}`} app={app} tenant={current} onChange={(t) => load.set({ tenant: t })} />)
        : null}
    </>
  );
}
