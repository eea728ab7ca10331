// Deleting a tenant (never `public`): its users' state, sessions, keys go with it.

import { admin } from "../api";
import { navigate, hashOf } from "../router";
import { ActionState, ConfirmButton, Section, useAction } from "../ui";
import type { TenantSectionProps } from "./registry";

export function DeleteTenantSection({ app, tenant }: TenantSectionProps) {
  const action = useAction(async () => {
    await admin.deleteTenant(app, tenant.id);
    navigate(hashOf(["apps", app]));
  });
  if (tenant.id === "public") return null;
  return (
    <Section title="Delete this tenant" id="delete-tenant">
      <p>Its end users' state in this tenant, their sessions and its API keys are deleted. This cannot be undone.</p>
      <ConfirmButton label={`Delete ${tenant.id}`} confirm={`Yes, delete ${tenant.id}`} busy={action.busy} onConfirm={() => void action.run()} />
      <ActionState action={action} />
    </Section>
  );
}
