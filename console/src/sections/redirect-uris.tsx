// A tenant's redirect URIs: where a third-party sign-in may return (compared byte for byte).

import { useState } from "preact/hooks";
import { can } from "../access";
import { admin } from "../api";
import { urisOf } from "../thirdparty";
import { useSession } from "../session";
import { ActionForm, Field, Section, useAction } from "../ui";
import type { TenantSectionProps } from "./registry";

export function RedirectUrisSection({ app, tenant, onChange }: TenantSectionProps) {
  const { me } = useSession();
  const mayWrite = can(me, "tenants:write", app, tenant.id);
  const [text, setText] = useState(tenant.redirect_uris.join("\n"));
  const action = useAction(async () => {
    const { tenant: saved } = await admin.putTenant(app, tenant.id, { redirect_uris: urisOf(text) });
    setText(saved.redirect_uris.join("\n"));
    onChange(saved);
    return saved.redirect_uris.length === 1 ? "Saved: 1 redirect URI." : `Saved: ${saved.redirect_uris.length} redirect URIs.`;
  });
  return (
    <Section title="Redirect URIs" id="redirect-uris">
      <p>Where a third-party sign-in may send the user back: your app's page that receives the provider's answer.</p>
      <ActionForm
        action={action}
        submit="Save redirect URIs"
        busyText="Saving…"
        denied={mayWrite ? null : { permission: "tenants:write", what: "Changing the redirect URIs" }}
      >
        <Field label="Redirect URIs (one per line)" hint="https, or http on 127.0.0.1, [::1] or localhost; no fragment; at most 20">
          <textarea
            rows={3}
            spellcheck={false}
            class="mono"
            value={text}
            disabled={!mayWrite}
            placeholder="https://app.example/auth/callback"
            onInput={(e) => setText(e.currentTarget.value)}
          />
        </Field>
      </ActionForm>
    </Section>
  );
}
