// An app: its tenants (keyset-paged, or the one tenant a tenant-scoped member acts in), a new
// tenant, and the app's sections (email delivery, …).

import { useState } from "preact/hooks";
import { can, tenantScope } from "../access";
import { admin } from "../api";
import { ApiError } from "../problem";
import { hashOf, navigate } from "../router";
import { appSections } from "../sections/registry";
import { LOGIN_METHODS } from "../sections/signin-methods";
import { useSession } from "../session";
import { ActionForm, Cell, Checkboxes, Empty, Field, LoadState, NotAllowed, PagerControls, Section, Table, Time, useAction, usePaged } from "../ui";
import type { PageProps } from "./registry";

export function AppPage({ app }: PageProps) {
  const { me } = useSession();
  const scope = tenantScope(me, app);
  return (
    <>
      <h1 tabIndex={-1}>App {app}</h1>
      {scope ? (
        <Section title="Your tenant" id="tenants">
          <p>
            Your membership acts in one tenant of this app: <a href={hashOf(["apps", app, "tenants", scope])}>{scope}</a>.
          </p>
        </Section>
      ) : can(me, "tenants:read", app) ? (
        <TenantList app={app} />
      ) : (
        <NotAllowed permission="tenants:read" what="Listing tenants" />
      )}
      <OpenTenant app={app} />
      {can(me, "tenants:write", app) ? <CreateTenant app={app} /> : null}
      {appSections
        .filter((s) => can(me, s.requires, app))
        .map((s) => (
          <s.component key={s.id} app={app} />
        ))}
    </>
  );
}

function TenantList({ app }: { app: string }) {
  const list = usePaged((cursor) => admin.tenants(app, { limit: 50, cursor }));
  return (
    <Section title="Tenants" id="tenants">
      <LoadState load={list} what="the tenants" />
      {list.data ? (
        <>
          <Table caption="Tenants" columns={["Tenant", "Login methods", "Link base URL", "Updated"]}>
            {list.data.items.length === 0 ? <Empty colSpan={4} text="No tenants." /> : null}
            {list.data.items.map((t) => (
              <tr key={t.id}>
                <Cell label="Tenant">
                  <a href={hashOf(["apps", app, "tenants", t.id])}>{t.id}</a>
                </Cell>
                <Cell label="Login methods">{t.login_methods.join(", ") || <span class="muted">none</span>}</Cell>
                <Cell label="Link base URL">{t.link_base_url ? <code>{t.link_base_url}</code> : <span class="muted">none</span>}</Cell>
                <Cell label="Updated">
                  <Time at={t.updated_at} />
                </Cell>
              </tr>
            ))}
          </Table>
          <PagerControls list={list} label="Tenants" />
        </>
      ) : null}
    </Section>
  );
}

/** Straight to a tenant by id: with thousands of tenants, quicker than paging. */
function OpenTenant({ app }: { app: string }) {
  const [id, setId] = useState("");
  return (
    <form
      class="form inline"
      aria-label="Open a tenant by id"
      onSubmit={(e) => {
        e.preventDefault();
        if (id.trim()) navigate(hashOf(["apps", app, "tenants", id.trim()]));
      }}
    >
      <Field label="Open tenant">
        <input type="text" value={id} placeholder="tenant id" onInput={(e) => setId(e.currentTarget.value)} />
      </Field>
      <button type="submit" class="secondary">
        Open
      </button>
    </form>
  );
}

function CreateTenant({ app }: { app: string }) {
  const [id, setId] = useState("");
  const [methods, setMethods] = useState<string[]>(["emailpassword"]);
  const [linkBase, setLinkBase] = useState("");
  const action = useAction(async () => {
    const tenantId = id.trim();
    // PUT creates or updates: make sure this form only creates.
    try {
      await admin.tenant(app, tenantId);
      throw new ApiError({ status: 409, code: "conflict", detail: `the tenant ${tenantId} exists already; change it on its own page` });
    } catch (e) {
      if (!(e instanceof ApiError) || e.problem.code !== "tenant_not_found") throw e;
    }
    const link = linkBase.trim();
    await admin.putTenant(app, tenantId, { login_methods: methods, ...(link ? { link_base_url: link } : {}) });
    navigate(hashOf(["apps", app, "tenants", tenantId]));
  });
  return (
    <Section title="Create a tenant" id="create-tenant">
      <ActionForm action={action} submit="Create tenant" busyText="Creating…">
        <Field label="Tenant id" hint="Lower-case letters, digits and dashes, e.g. acme">
          <input type="text" name="tenant-id" required pattern="[a-z0-9][a-z0-9-]{0,62}" value={id} onInput={(e) => setId(e.currentTarget.value)} />
        </Field>
        <Checkboxes legend="Login methods" options={LOGIN_METHODS} value={methods} onChange={setMethods} />
        <Field label="Link base URL (optional)" hint="Where emailed links point">
          <input type="url" value={linkBase} placeholder="https://app.example/auth" onInput={(e) => setLinkBase(e.currentTarget.value)} />
        </Field>
      </ActionForm>
    </Section>
  );
}
