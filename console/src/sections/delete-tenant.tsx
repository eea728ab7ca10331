// Deleting a tenant (never `public`): its users' state, sessions, keys go with it.

import { can } from "../access";
import { admin } from "../api";
import { navigate, hashOf } from "../router";
import { useSession } from "../session";
import { Section } from "../ui";
import { DeleteWithProgress } from "./deletion";
import type { TenantSectionProps } from "./registry";

export function DeleteTenantSection({ app, tenant }: TenantSectionProps) {
  const { me } = useSession();
  if (tenant.id === "public") return null;
  return (
    <Section title="Delete this tenant" id="delete-tenant">
      <DeleteWithProgress
        app={app}
        label={`Delete ${tenant.id}`}
        confirm={`Yes, delete ${tenant.id}`}
        lacks={can(me, "tenants:write", app, tenant.id) ? null : "tenants:write"}
        start={() => admin.deleteTenant(app, tenant.id)}
        onDone={() => navigate(hashOf(["apps", app]))}
      >
        <p>
          Its API keys, its end users' state and sessions here (and the users left in no other tenant) are deleted; no tenant
          of this id can be created until the deletion is done. This cannot be undone.
        </p>
      </DeleteWithProgress>
    </Section>
  );
}
