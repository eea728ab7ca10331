// A tenant's identity providers (third-party sign-in): list, add or change, delete. The client
// secret goes to the API once and is never shown back — the API never returns it, and the
// form forgets it as soon as it is sent.

import { useState } from "preact/hooks";
import { can } from "../access";
import { admin, type Provider } from "../api";
import { providerBody } from "../thirdparty";
import { useSession } from "../session";
import {
  ActionForm,
  Cell,
  ChangeOrDelete,
  Empty,
  Field,
  LoadState,
  PagerControls,
  Section,
  Table,
  Time,
  useAction,
  usePaged,
} from "../ui";
import type { TenantSectionProps } from "./registry";

export function ProvidersSection({ app, tenant }: TenantSectionProps) {
  const { me } = useSession();
  const mayWrite = can(me, "tenants:write", app, tenant.id);
  const [generation, setGeneration] = useState(0);
  const [editing, setEditing] = useState<Provider | null>(null);
  return (
    <Section title="Identity providers" id="providers">
      <p>
        Third-party sign-in (OpenID Connect or GitHub) for this tenant; it needs <code>thirdparty</code> among the login methods
        and a redirect URI above.
      </p>
      <ProviderList
        key={generation}
        app={app}
        tenant={tenant.id}
        mayWrite={mayWrite}
        onEdit={setEditing}
        onChange={() => setGeneration((g) => g + 1)}
      />
      <ProviderForm
        key={editing?.id ?? "new"}
        app={app}
        tenant={tenant.id}
        mayWrite={mayWrite}
        editing={editing}
        onSaved={() => {
          setEditing(null);
          setGeneration((g) => g + 1);
        }}
        onCancel={() => setEditing(null)}
      />
    </Section>
  );
}

function ProviderList({
  app,
  tenant,
  mayWrite,
  onEdit,
  onChange,
}: {
  app: string;
  tenant: string;
  mayWrite: boolean;
  onEdit: (p: Provider) => void;
  onChange: () => void;
}) {
  const list = usePaged((cursor) => admin.providers(app, tenant, { limit: 50, cursor }));
  return (
    <>
      <LoadState load={list} what="the providers" />
      {list.data ? (
        <>
          <Table caption="Identity providers" columns={["Provider", "Kind", "Issuer", "Client id", "Scopes", "Updated", "Actions"]}>
            {list.data.items.length === 0 ? <Empty colSpan={7} text="No provider yet." /> : null}
            {list.data.items.map((p) => (
              <ProviderRow key={p.id} app={app} tenant={tenant} provider={p} mayWrite={mayWrite} onEdit={onEdit} onDeleted={onChange} />
            ))}
          </Table>
          <PagerControls list={list} label="Providers" />
        </>
      ) : null}
    </>
  );
}

function ProviderRow({
  app,
  tenant,
  provider: p,
  mayWrite,
  onEdit,
  onDeleted,
}: {
  app: string;
  tenant: string;
  provider: Provider;
  mayWrite: boolean;
  onEdit: (p: Provider) => void;
  onDeleted: () => void;
}) {
  const lacks = mayWrite ? null : ("tenants:write" as const);
  const remove = useAction(async () => {
    await admin.deleteProvider(app, tenant, p.id);
    onDeleted();
  });
  return (
    <tr data-provider={p.id}>
      <Cell label="Provider">
        <code>{p.id}</code>
      </Cell>
      <Cell label="Kind">{p.kind}</Cell>
      <Cell label="Issuer">
        <code>{p.issuer}</code>
      </Cell>
      <Cell label="Client id">
        <code>{p.client_id}</code>
      </Cell>
      <Cell label="Scopes">{p.scopes.join(" ")}</Cell>
      <Cell label="Updated">
        <Time at={p.updated_at} />
      </Cell>
      <Cell label="Actions">
        <ChangeOrDelete name={p.id} lacks={lacks} onChange={() => onEdit(p)} remove={remove} />
      </Cell>
    </tr>
  );
}

function ProviderForm({
  app,
  tenant,
  mayWrite,
  editing,
  onSaved,
  onCancel,
}: {
  app: string;
  tenant: string;
  mayWrite: boolean;
  editing: Provider | null;
  onSaved: () => void;
  onCancel: () => void;
}) {
  const [id, setId] = useState(editing?.id ?? "");
  const [kind, setKind] = useState<"oidc" | "github">(editing?.kind ?? "oidc");
  const [issuer, setIssuer] = useState(editing?.kind === "oidc" ? editing.issuer : "");
  const [enterpriseUrl, setEnterpriseUrl] = useState("");
  const [clientId, setClientId] = useState(editing?.client_id ?? "");
  const [clientSecret, setClientSecret] = useState("");
  const [scopes, setScopes] = useState(editing?.scopes.join(" ") ?? "");
  const action = useAction(async () => {
    const body = providerBody({ kind, issuer, enterpriseUrl, clientId, clientSecret, scopes });
    // Forget the secret as soon as it is on its way, whatever the answer.
    setClientSecret("");
    const { provider } = await admin.putProvider(app, tenant, id.trim(), body);
    onSaved();
    return `Provider ${provider.id} saved.`;
  });
  return (
    <ActionForm
      action={action}
      label={editing ? `Change the provider ${editing.id}` : "Add a provider"}
      submit={editing ? "Save provider" : "Add provider"}
      busyText="Saving…"
      denied={mayWrite ? null : { permission: "tenants:write", what: "Adding or changing providers" }}
    >
      <h3>{editing ? `Change ${editing.id}` : "Add a provider"}</h3>
      <Field label="Provider id" hint="Your name for it, e.g. google or github">
        <input
          type="text"
          required
          pattern="[a-z0-9][a-z0-9-]{0,62}"
          value={id}
          disabled={!mayWrite || !!editing}
          onInput={(e) => setId(e.currentTarget.value)}
        />
      </Field>
      <Field label="Kind">
        <select value={kind} disabled={!mayWrite} onChange={(e) => setKind(e.currentTarget.value as "oidc" | "github")}>
          <option value="oidc">OpenID Connect</option>
          <option value="github">GitHub</option>
        </select>
      </Field>
      {kind === "oidc" ? (
        <Field label="Issuer" hint="Its discovery document is read when you save">
          <input type="url" required value={issuer} disabled={!mayWrite} placeholder="https://accounts.example.com" onInput={(e) => setIssuer(e.currentTarget.value)} />
        </Field>
      ) : (
        <Field label="GitHub Enterprise Server URL (optional)" hint="Empty: github.com">
          <input type="url" value={enterpriseUrl} disabled={!mayWrite} onInput={(e) => setEnterpriseUrl(e.currentTarget.value)} />
        </Field>
      )}
      <Field label="Client id">
        <input type="text" required autoComplete="off" value={clientId} disabled={!mayWrite} onInput={(e) => setClientId(e.currentTarget.value)} />
      </Field>
      <Field label="Client secret" hint={editing ? "Empty: the stored one is kept. It is never shown back." : "Stored encrypted; never shown back"}>
        <input
          type="password"
          required={!editing}
          autoComplete="off"
          value={clientSecret}
          disabled={!mayWrite}
          onInput={(e) => setClientSecret(e.currentTarget.value)}
        />
      </Field>
      <Field label="Scopes (optional)" hint={kind === "oidc" ? "Default: openid email profile" : "Default: read:user user:email"}>
        <input type="text" value={scopes} disabled={!mayWrite} onInput={(e) => setScopes(e.currentTarget.value)} />
      </Field>
      {editing ? (
        <button type="button" class="secondary" onClick={onCancel}>
          Cancel
        </button>
      ) : null}
    </ActionForm>
  );
}
