// A tenant's OAuth authorization server settings (`…/oauth`): dynamic registration, the scopes
// it offers with the words its consent page shows, the access tokens' lifetime. Shown with
// clients:read, changed with clients:write (the PUT replaces them whole), and whether https
// URLs are accepted as client ids (Client ID Metadata Documents).

import { useState } from "preact/hooks";
import { can } from "../access";
import { admin, type OAuthSettings } from "../api";
import { lifetimeWords, REGISTRATION_OPTIONS, scopeRows, settingsBody, TTL_BOUNDS, valueOf, type ScopeRow } from "../oauth";
import { hashOf } from "../router";
import { useSession } from "../session";
import { ActionForm, Field, LoadState, Section, useAction, useLoad } from "../ui";
import type { TenantSectionProps } from "./registry";

export function OAuthSettingsSection({ app, tenant }: TenantSectionProps) {
  const load = useLoad(() => admin.oauthSettings(app, tenant.id), [app, tenant.id]);
  const path = `/apps/${encodeURIComponent(app)}/tenants/${encodeURIComponent(tenant.id)}`;
  return (
    <Section title="OAuth" id="oauth">
      <p>
        This tenant is an OAuth 2.1 authorization server (for MCP servers and other OAuth clients): its issuer is the
        deployment's public origin followed by <code class="wrap">{path}</code>, and clients find the rest in its metadata at{" "}
        <code class="wrap">/.well-known/oauth-authorization-server{path}</code>. Its clients are on the{" "}
        <a href={hashOf(["apps", app, "tenants", tenant.id, "clients"])}>OAuth clients</a> page.
      </p>
      <LoadState load={load} what="the OAuth settings" />
      {load.data ? <SettingsForm app={app} tenant={tenant.id} saved={load.data.oauth} onSaved={(oauth) => load.set({ oauth })} /> : null}
    </Section>
  );
}

/** A scope row with a stable key, so removing one keeps the others' inputs (and focus) in place. */
interface KeyedRow extends ScopeRow {
  key: number;
}

let nextKey = 0;
const keyed = (rows: ScopeRow[]): KeyedRow[] => rows.map((r) => ({ ...r, key: nextKey++ }));

function SettingsForm({
  app,
  tenant,
  saved,
  onSaved,
}: {
  app: string;
  tenant: string;
  saved: OAuthSettings;
  onSaved: (s: OAuthSettings) => void;
}) {
  const { me } = useSession();
  const mayWrite = can(me, "clients:write", app, tenant);
  const [registration, setRegistration] = useState(saved.registration);
  const [documents, setDocuments] = useState(saved.client_id_metadata_documents);
  const [rows, setRows] = useState<KeyedRow[]>(() => keyed(scopeRows(saved.scopes)));
  const [ttl, setTtl] = useState(String(saved.access_token_ttl_seconds));
  const action = useAction(async () => {
    const { oauth } = await admin.putOAuthSettings(app, tenant, valueOf(settingsBody({ registration, documents, rows, ttl })));
    // The form shows what is now saved (blank rows gone, names trimmed).
    setRegistration(oauth.registration);
    setDocuments(oauth.client_id_metadata_documents);
    setRows(keyed(scopeRows(oauth.scopes)));
    setTtl(String(oauth.access_token_ttl_seconds));
    onSaved(oauth);
    const n = Object.keys(oauth.scopes).length;
    return `Saved: registration ${oauth.registration}, ${n === 1 ? "1 scope" : `${n} scopes`}, access tokens for ${lifetimeWords(oauth.access_token_ttl_seconds)}.`;
  });
  const setRow = (key: number, change: Partial<ScopeRow>) => setRows((rs) => rs.map((r) => (r.key === key ? { ...r, ...change } : r)));
  const ttlSeconds = Number(ttl);
  return (
    <ActionForm
      action={action}
      label="OAuth settings"
      submit="Save OAuth settings"
      busyText="Saving…"
      denied={mayWrite ? null : { permission: "clients:write", what: "Changing the OAuth settings" }}
    >
      <Field label="Dynamic client registration" hint="RFC 7591: clients (MCP clients, say) registering themselves at the tenant's /oauth/register">
        <select value={registration} disabled={!mayWrite} onChange={(e) => setRegistration(e.currentTarget.value as OAuthSettings["registration"])}>
          {REGISTRATION_OPTIONS.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      </Field>
      <fieldset class="checks scopes">
        <legend>Scopes</legend>
        <p class="hint">What clients may ask for, each with the words the consent page shows the user. At most 50.</p>
        {rows.length === 0 ? <p class="muted">No scope yet: clients can only be given none.</p> : null}
        {rows.map((r, i) => (
          <div class="scope-row" key={r.key} data-scope-row={i}>
            <Field label="Scope name">
              <input
                type="text"
                class="mono"
                required
                maxLength={100}
                spellcheck={false}
                autoComplete="off"
                value={r.name}
                disabled={!mayWrite}
                placeholder="mcp:tools"
                onInput={(e) => setRow(r.key, { name: e.currentTarget.value })}
              />
            </Field>
            <Field label="Description">
              <input
                type="text"
                maxLength={200}
                value={r.description}
                disabled={!mayWrite}
                placeholder="Use your tools"
                onInput={(e) => setRow(r.key, { description: e.currentTarget.value })}
              />
            </Field>
            {mayWrite ? (
              <button type="button" class="secondary" onClick={() => setRows((rs) => rs.filter((x) => x.key !== r.key))}>
                Remove<span class="visually-hidden"> the scope {r.name || i + 1}</span>
              </button>
            ) : null}
          </div>
        ))}
        {mayWrite ? (
          <button type="button" class="secondary" disabled={rows.length >= 50} onClick={() => setRows((rs) => [...rs, ...keyed([{ name: "", description: "" }])])}>
            Add a scope
          </button>
        ) : null}
      </fieldset>
      <Field
        label="Access token lifetime (seconds)"
        hint={`${TTL_BOUNDS[0]} to ${TTL_BOUNDS[1]}${Number.isInteger(ttlSeconds) && ttlSeconds > 0 ? ` — ${lifetimeWords(ttlSeconds)}` : ""}; never longer than the app's own access tokens`}
      >
        <input
          type="number"
          required
          min={TTL_BOUNDS[0]}
          max={TTL_BOUNDS[1]}
          step={1}
          value={ttl}
          disabled={!mayWrite}
          onInput={(e) => setTtl(e.currentTarget.value)}
        />
      </Field>
      <fieldset class="checks" disabled={!mayWrite}>
        <legend>Client ID Metadata Documents</legend>
        <label class="check">
          <input type="checkbox" checked={documents} onChange={(e) => setDocuments(e.currentTarget.checked)} /> Accept
          https URLs as client ids
        </label>
        <span class="hint">
          The worker fetches the document at the URL (public hosts only, 5 s, 5 KB, kept an hour); such a client is
          public and authorizes with PKCE.
        </span>
      </fieldset>
    </ActionForm>
  );
}
