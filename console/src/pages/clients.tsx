// A tenant's OAuth clients: register one (a confidential client's secret is shown once, like
// an API key's), list them a keyset page at a time with the pending ones — registered by
// themselves while the tenant's registration is `approval` — first and marked, approve,
// disable (which revokes every grant the client holds) or enable, delete, and give a
// confidential client a new secret (shown once; the old one stops at once). Listing needs
// clients:read, every change clients:write; the API checks each call again.

import { useState } from "preact/hooks";
import { can } from "../access";
import { admin, type GrantType, type OAuthClient, type PageOf } from "../api";
import { clientBody, grantOptions, pendingFirst, pendingNote, statusChange, valueOf, type ClientForm } from "../oauth";
import { hashOf } from "../router";
import { useSession } from "../session";
import {
  ActionForm,
  ActionState,
  Button,
  Cell,
  Checkboxes,
  ConfirmButton,
  Empty,
  Field,
  LoadState,
  NotAllowed,
  OnceSecret,
  PagerControls,
  Section,
  Table,
  Time,
  useAction,
  useLoad,
  usePaged,
  type Load,
} from "../ui";
import type { PageProps } from "./registry";

export function ClientsPage({ app, tenant }: PageProps) {
  const { me } = useSession();
  const [generation, setGeneration] = useState(0);
  const mayWrite = can(me, "clients:write", app, tenant);
  return (
    <>
      <h1 tabIndex={-1}>
        OAuth clients <span class="muted">of {tenant}</span>
      </h1>
      <ClientList key={generation} app={app} tenant={tenant} mayWrite={mayWrite} />
      {mayWrite ? (
        <CreateClient app={app} tenant={tenant} onCreated={() => setGeneration((g) => g + 1)} />
      ) : (
        <NotAllowed permission="clients:write" what="Registering, approving, disabling and deleting clients" />
      )}
    </>
  );
}

function ClientList({ app, tenant, mayWrite }: { app: string; tenant: string; mayWrite: boolean }) {
  const list = usePaged((cursor) => admin.clients(app, tenant, { limit: 50, cursor }));
  const items = list.data?.items ?? [];
  const note = pendingNote(items);
  const [rotated, setRotated] = useState<{ name: string; id: string; secret: string } | null>(null);
  return (
    <Section title="Clients" id="clients">
      {rotated ? (
        <OnceSecret
          title={`New secret of ${rotated.name}`}
          values={[
            { label: "Client id", value: rotated.id },
            { label: "Secret", value: rotated.secret },
          ]}
          onDismiss={() => setRotated(null)}
        />
      ) : null}
      <LoadState load={list} what="the clients" />
      {list.data ? (
        <>
          {note ? (
            <p class="notice" data-pending-note>
              <strong>{note}</strong>
            </p>
          ) : null}
          <Table caption="OAuth clients" columns={["Name", "Status", "Client id", "Type", "Redirect URIs", "Grants and scopes", "Created", "Actions"]}>
            {items.length === 0 ? <Empty colSpan={8} text="No client yet." /> : null}
            {pendingFirst(items).map((c) => (
              <ClientRow key={c.client_id} app={app} tenant={tenant} client={c} mayWrite={mayWrite} list={list} onRotated={setRotated} />
            ))}
          </Table>
          <PagerControls list={list} label="Clients" />
        </>
      ) : null}
    </Section>
  );
}

function ClientRow({
  app,
  tenant,
  client: c,
  mayWrite,
  list,
  onRotated,
}: {
  app: string;
  tenant: string;
  client: OAuthClient;
  mayWrite: boolean;
  list: Load<PageOf<OAuthClient>>;
  onRotated: (secret: { name: string; id: string; secret: string }) => void;
}) {
  const lacks = mayWrite ? null : ("clients:write" as const);
  const change = statusChange(c.status);
  const patch = useAction(async () => {
    const { client } = await admin.patchClient(app, tenant, c.client_id, { status: change.to });
    // The row changes in place (the page stays where it is).
    if (list.data) list.set({ ...list.data, items: list.data.items.map((x) => (x.client_id === client.client_id ? client : x)) });
    return c.status === "pending" ? `${client.name} is approved.` : client.status === "disabled" ? `${client.name} is disabled; its grants are revoked.` : `${client.name} is enabled.`;
  });
  const remove = useAction(async () => {
    await admin.deleteClient(app, tenant, c.client_id);
    list.reload();
  });
  const rotate = useAction(async () => {
    const answer = await admin.rotateClientSecret(app, tenant, c.client_id);
    onRotated({ name: answer.client.name, id: answer.client.client_id, secret: answer.client_secret });
    return `${answer.client.name} has a new secret; the old one no longer works.`;
  });
  return (
    <tr data-client={c.name} data-client-id={c.client_id} class={c.status === "pending" ? "pending" : undefined}>
      <Cell label="Name">{c.name}</Cell>
      <Cell label="Status">
        <span class={`badge ${c.status}`} data-testid="client-status">
          {c.status === "pending" ? "pending approval" : c.status}
        </span>
      </Cell>
      <Cell label="Client id">
        <code class="wrap">{c.client_id}</code>
      </Cell>
      <Cell label="Type">
        {c.type}
        {c.type === "confidential" ? <span class="muted"> ({c.token_endpoint_auth_method})</span> : null}
      </Cell>
      <Cell label="Redirect URIs">
        {c.redirect_uris.length ? (
          <ul class="plain">
            {c.redirect_uris.map((u) => (
              <li key={u}>
                <code class="wrap">{u}</code>
              </li>
            ))}
          </ul>
        ) : (
          <span class="muted">none</span>
        )}
      </Cell>
      <Cell label="Grants and scopes">
        <ul class="plain">
          {c.grant_types.map((g) => (
            <li key={g}>{g}</li>
          ))}
        </ul>
        <span class="muted">scopes: </span>
        {c.scopes.length ? <code class="wrap">{c.scopes.join(" ")}</code> : <span class="muted">none</span>}
      </Cell>
      <Cell label="Created">
        <Time at={c.created_at} />
      </Cell>
      <Cell label="Actions">
        <div class="actions">
          {change.to === "disabled" ? (
            <ConfirmButton
              label="Disable"
              confirm={`Yes, disable ${c.name} and revoke its grants`}
              busy={patch.busy}
              lacks={lacks}
              onConfirm={() => void patch.run()}
            />
          ) : (
            <Button class={c.status === "pending" ? undefined : "secondary"} busy={patch.busy} busyText="Saving…" lacks={lacks} onClick={() => void patch.run()}>
              {change.label}
              <span class="visually-hidden"> {c.name}</span>
            </Button>
          )}
          {c.type === "confidential" ? (
            <ConfirmButton
              label="Rotate secret"
              confirm={`Yes, replace the secret of ${c.name}`}
              busy={rotate.busy}
              lacks={lacks}
              onConfirm={() => void rotate.run()}
            />
          ) : null}
          <ConfirmButton label="Delete" confirm={`Yes, delete ${c.name}`} busy={remove.busy} lacks={lacks} onConfirm={() => void remove.run()} />
        </div>
        <ActionState action={patch} />
        <ActionState action={rotate} />
        <ActionState action={remove} />
      </Cell>
    </tr>
  );
}

const NEW_CLIENT: ClientForm = {
  name: "",
  type: "public",
  redirectUris: "",
  grantTypes: ["authorization_code", "refresh_token"],
  scopes: [],
  authMethod: "client_secret_basic",
};

function CreateClient({ app, tenant, onCreated }: { app: string; tenant: string; onCreated: () => void }) {
  // The scopes a client may be given are the tenant's.
  const settings = useLoad(() => admin.oauthSettings(app, tenant), [app, tenant]);
  const offered = settings.data ? Object.entries(settings.data.oauth.scopes) : [];
  const [form, setForm] = useState<ClientForm>(NEW_CLIENT);
  const [created, setCreated] = useState<{ name: string; id: string; secret: string } | null>(null);
  const set = (change: Partial<ClientForm>) => setForm((f) => ({ ...f, ...change }));
  const action = useAction(async () => {
    const body = valueOf(clientBody(form, offered.map(([name]) => name)));
    const answer = await admin.createClient(app, tenant, body);
    setCreated(answer.client_secret ? { name: answer.client.name, id: answer.client.client_id, secret: answer.client_secret } : null);
    setForm(NEW_CLIENT);
    onCreated();
    return `The client ${answer.client.name} is registered: its client id is ${answer.client.client_id}.`;
  });
  return (
    <Section title="Register a client" id="create-client">
      {created ? (
        <OnceSecret
          title={`Client ${created.name}`}
          values={[
            { label: "Client id", value: created.id },
            { label: "Secret", value: created.secret },
          ]}
          onDismiss={() => setCreated(null)}
        />
      ) : null}
      <ActionForm action={action} label="Register a client" submit="Register client" busyText="Registering…">
        <Field label="Client name" hint="Shown to users on the consent page">
          <input type="text" required maxLength={100} value={form.name} onInput={(e) => set({ name: e.currentTarget.value })} />
        </Field>
        <Field label="Client type" hint="Public: a native, browser or MCP client that cannot keep a secret (PKCE only). Confidential: a server, with a secret.">
          <select
            value={form.type}
            onChange={(e) => {
              const type = e.currentTarget.value as ClientForm["type"];
              set({ type, grantTypes: type === "public" ? form.grantTypes.filter((g) => g !== "client_credentials") : form.grantTypes });
            }}
          >
            <option value="public">public</option>
            <option value="confidential">confidential</option>
          </select>
        </Field>
        {form.type === "confidential" ? (
          <Field label="Client authentication" hint="How it sends its secret to the token endpoint">
            <select value={form.authMethod} onChange={(e) => set({ authMethod: e.currentTarget.value as ClientForm["authMethod"] })}>
              <option value="client_secret_basic">client_secret_basic (HTTP Basic)</option>
              <option value="client_secret_post">client_secret_post (in the form)</option>
            </select>
          </Field>
        ) : null}
        <Field
          label="Redirect URIs (one per line)"
          hint="Matched exactly (a loopback IP's port may vary); https, or http on a loopback host; needed for authorization_code; at most 20"
        >
          <textarea
            rows={3}
            spellcheck={false}
            class="mono"
            value={form.redirectUris}
            placeholder="http://127.0.0.1/callback"
            onInput={(e) => set({ redirectUris: e.currentTarget.value })}
          />
        </Field>
        <Checkboxes
          legend="Grant types"
          options={grantOptions(form.type)}
          value={form.grantTypes}
          onChange={(grantTypes) => set({ grantTypes: grantTypes as GrantType[] })}
        />
        <LoadState load={settings} what="the tenant's scopes" />
        {settings.data ? (
          offered.length ? (
            <Checkboxes
              legend="Scopes"
              options={offered.map(([name, description]) => ({ value: name, label: description ? `${name} — ${description}` : name }))}
              value={form.scopes}
              onChange={(scopes) => set({ scopes })}
            />
          ) : (
            <p class="muted">
              The tenant offers no scope yet: define them in its <a href={hashOf(["apps", app, "tenants", tenant])}>OAuth settings</a>.
            </p>
          )
        ) : null}
      </ActionForm>
    </Section>
  );
}
