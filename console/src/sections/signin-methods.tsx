// A tenant's sign-in settings: its login methods and the base URL of emailed links.

import { useState } from "preact/hooks";
import { can } from "../access";
import { admin } from "../api";
import { useSession } from "../session";
import { ActionForm, Checkboxes, Field, Section, useAction } from "../ui";
import type { TenantSectionProps } from "./registry";

/** The login methods a tenant may offer (API.md). */
export const LOGIN_METHODS = [
  { value: "emailpassword", label: "Email and password" },
  { value: "passwordless", label: "Passwordless (emailed code or link)" },
  { value: "thirdparty", label: "Third-party providers" },
] as const;

export function SignInMethodsSection({ app, tenant, onChange }: TenantSectionProps) {
  const { me } = useSession();
  const mayWrite = can(me, "tenants:write", app, tenant.id);
  const [methods, setMethods] = useState<string[]>(tenant.login_methods);
  const [linkBase, setLinkBase] = useState(tenant.link_base_url ?? "");
  const action = useAction(async () => {
    const link = linkBase.trim();
    const { tenant: saved } = await admin.putTenant(app, tenant.id, {
      login_methods: methods,
      link_base_url: link === "" ? null : link,
    });
    onChange(saved);
    return "Saved.";
  });
  return (
    <Section title="Sign-in methods and links" id="signin-methods">
      <ActionForm
        action={action}
        submit="Save sign-in settings"
        busyText="Saving…"
        denied={mayWrite ? null : { permission: "tenants:write", what: "Changing these settings" }}
      >
        <Checkboxes legend="Login methods" options={LOGIN_METHODS} value={methods} onChange={setMethods} disabled={!mayWrite} />
        <Field label="Link base URL" hint="Where emailed links point: <url>?type=…&token=…; empty: none (flows that send links are off)">
          <input type="url" value={linkBase} disabled={!mayWrite} placeholder="https://app.example/auth" onInput={(e) => setLinkBase(e.currentTarget.value)} />
        </Field>
      </ActionForm>
    </Section>
  );
}
