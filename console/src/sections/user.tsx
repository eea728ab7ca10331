// The parts of an end user's page: what it is, its status, sessions, plan and rate limit,
// roles and metadata — each action through `/admin`, each disabled when the roles lack it.

import { useState } from "preact/hooks";
import { can } from "../access";
import { admin } from "../api";
import { isObject, mergePatch, nullsIn, type Json, type JsonObject } from "../mergepatch";
import { useSession } from "../session";
import { ActionForm, ActionState, Button, Checkboxes, ErrorNote, Field, LoadState, NotAllowed, Section, Time, useAction, useLoad } from "../ui";
import type { UserSectionProps } from "./registry";

export function SummarySection({ user }: UserSectionProps) {
  return (
    <Section title="Summary" id="summary">
      <dl class="facts">
        <dt>Email</dt>
        <dd>{user.email}</dd>
        <dt>Id</dt>
        <dd>
          <code>{user.id}</code>
        </dd>
        <dt>Status</dt>
        <dd>
          <span class={`badge ${user.status}`} data-testid="user-status">
            {user.status}
          </span>
        </dd>
        <dt>Email verified</dt>
        <dd>{user.email_verified ? "yes" : "no"}</dd>
        <dt>Sign-in methods</dt>
        <dd>{user.methods.length ? user.methods.join(", ") : "none yet"}</dd>
        <dt>Plan</dt>
        <dd>{user.plan_tier}</dd>
        <dt>Rate limit</dt>
        <dd>{user.rate_limit === null ? "none" : `${user.rate_limit} requests/min`}</dd>
        <dt>Roles</dt>
        <dd>{user.roles.length ? user.roles.join(", ") : "none"}</dd>
        <dt>Permissions</dt>
        <dd>{user.permissions.length ? user.permissions.join(", ") : "none"}</dd>
        <dt>Created</dt>
        <dd>
          <Time at={user.created_at} />
        </dd>
      </dl>
    </Section>
  );
}

export function StatusSection({ app, tenant, user, onChange }: UserSectionProps) {
  const { me } = useSession();
  const lacks = can(me, "users:suspend", app, tenant) ? null : ("users:suspend" as const);
  const [reason, setReason] = useState("");
  const suspend = useAction(async () => {
    const { user: changed } = await admin.suspend(app, tenant, user.id, reason.trim() || null);
    onChange(changed);
    setReason("");
    return "Suspended: sign-in and refresh are refused and every token of the user here introspects inactive.";
  });
  const unsuspend = useAction(async () => {
    const { user: changed } = await admin.unsuspend(app, tenant, user.id);
    onChange(changed);
    return "Active again.";
  });
  return (
    <Section title="Status" id="status">
      {user.status === "active" ? (
        <ActionForm action={suspend} danger lacks={lacks} submit="Suspend in this tenant" busyText="Suspending…">
          <Field label="Reason (kept in the audit log)">
            <input type="text" maxLength={500} value={reason} disabled={!!lacks} onInput={(e) => setReason(e.currentTarget.value)} />
          </Field>
        </ActionForm>
      ) : (
        <div class="form">
          <p>The user is suspended in this tenant; its other tenants are untouched.</p>
          <Button busy={unsuspend.busy} busyText="Unsuspending…" lacks={lacks} onClick={() => void unsuspend.run()}>
            Unsuspend
          </Button>
          <ActionState action={unsuspend} />
        </div>
      )}
      {user.status === "active" ? <ActionState action={unsuspend} /> : <ActionState action={suspend} />}
    </Section>
  );
}

export function SessionsSection({ app, tenant, user }: UserSectionProps) {
  const { me } = useSession();
  const lacks = can(me, "users:suspend", app, tenant) ? null : ("users:suspend" as const);
  const action = useAction(async () => {
    const { revoked } = await admin.revokeSessions(app, tenant, user.id);
    return revoked === 1 ? "1 session revoked." : `${revoked} sessions revoked.`;
  });
  return (
    <Section title="Sessions" id="sessions">
      <p>Ends every session of the user in this tenant: refresh tokens stop working and access tokens introspect inactive.</p>
      <Button busy={action.busy} busyText="Revoking…" lacks={lacks} onClick={() => void action.run()}>
        Revoke all sessions
      </Button>
      <ActionState action={action} />
    </Section>
  );
}

export function PlanSection({ app, tenant, user, onChange }: UserSectionProps) {
  const { me } = useSession();
  const mayWrite = can(me, "users:plan", app, tenant);
  const [plan, setPlan] = useState(user.plan_tier);
  const [override, setOverride] = useState(user.rate_limit_override === null ? "" : String(user.rate_limit_override));
  const action = useAction(async () => {
    const text = override.trim();
    const limit = text === "" ? null : Number(text);
    if (limit !== null && (!Number.isInteger(limit) || limit < 0)) {
      throw new Error("The rate-limit override must be a whole number of requests per minute, or empty for none.");
    }
    const { user: changed } = await admin.patchUser(app, tenant, user.id, { plan_tier: plan.trim(), rate_limit_override: limit });
    onChange(changed);
    return "Saved.";
  });
  return (
    <Section title="Plan and rate limit" id="plan">
      <ActionForm action={action} submit="Save plan" busyText="Saving…" denied={mayWrite ? null : { permission: "users:plan", what: "Changing the plan" }}>
        <Field label="Plan tier" hint="free, or a plan defined for the app">
          <input type="text" required value={plan} disabled={!mayWrite} onInput={(e) => setPlan(e.currentTarget.value)} />
        </Field>
        <Field label="Rate-limit override (requests per minute)" hint="Empty: the plan's default applies">
          <input type="number" min={0} step={1} inputMode="numeric" value={override} disabled={!mayWrite} onInput={(e) => setOverride(e.currentTarget.value)} />
        </Field>
      </ActionForm>
    </Section>
  );
}

export function RolesSection({ app, tenant, user, onChange }: UserSectionProps) {
  const { me } = useSession();
  const mayWrite = can(me, "users:write", app, tenant);
  // The app's end-user roles (a first page of up to 200; more are typed by name below).
  const defined = useLoad(() => admin.roles(app, { limit: 200 }), [app]);
  const [assigned, setAssigned] = useState<string[]>(user.assigned_roles);
  const [extra, setExtra] = useState("");
  const planRoles = user.roles.filter((r) => !user.assigned_roles.includes(r));
  const names = new Set([...(defined.data?.items.map((r) => r.name) ?? []), ...assigned]);
  const action = useAction(async () => {
    const typed = extra
      .split(",")
      .map((r) => r.trim())
      .filter(Boolean);
    const roles = [...new Set([...assigned, ...typed])];
    const { user: changed } = await admin.putUserRoles(app, tenant, user.id, roles);
    setAssigned(changed.assigned_roles);
    setExtra("");
    onChange(changed);
    return "Roles saved.";
  });
  return (
    <Section title="Roles" id="roles">
      <p>
        Assigned by hand here; the plan adds {planRoles.length ? <strong>{planRoles.join(", ")}</strong> : "none"}.
      </p>
      {defined.problem ? <ErrorNote problem={defined.problem} prefix="The app's roles could not be listed; type role names instead." /> : null}
      <ActionForm action={action} submit="Save roles" busyText="Saving…" denied={mayWrite ? null : { permission: "users:write", what: "Assigning roles" }}>
        {names.size > 0 ? (
          <Checkboxes
            legend="Roles assigned by hand"
            options={[...names].sort().map((n) => ({ value: n }))}
            value={assigned}
            onChange={setAssigned}
            disabled={!mayWrite}
          />
        ) : defined.loading ? (
          <LoadState load={defined} what="the app's roles" />
        ) : (
          <p class="muted">The app defines no end-user roles yet.</p>
        )}
        <Field label="Other roles (comma-separated)">
          <input type="text" value={extra} disabled={!mayWrite} onInput={(e) => setExtra(e.currentTarget.value)} />
        </Field>
      </ActionForm>
    </Section>
  );
}

export function MetadataSection({ app, user }: UserSectionProps) {
  const { me } = useSession();
  const mayRead = can(me, "users:read", app);
  const mayWrite = can(me, "users:write", app);
  const load = useLoad(async () => (mayRead ? admin.metadata(app, user.id) : null), [app, user.id, mayRead]);
  const [text, setText] = useState<string | null>(null);
  const current = (load.data?.metadata ?? {}) as JsonObject;
  const shown = text ?? JSON.stringify(current, null, 2);
  const action = useAction(async () => {
    let edited: Json;
    try {
      edited = JSON.parse(shown) as Json;
    } catch (e) {
      throw new Error(`The metadata is not valid JSON: ${(e as Error).message}`);
    }
    if (!isObject(edited)) throw new Error("The metadata must be a JSON object.");
    const nulls = nullsIn(edited);
    if (nulls.length) throw new Error(`Null values cannot be stored (null removes a key): ${nulls.join(", ")}.`);
    const patch = mergePatch(current, edited);
    if (Object.keys(patch).length === 0) return "Nothing changed.";
    const saved = await admin.patchMetadata(app, user.id, patch);
    load.set(saved);
    setText(null);
    return "Metadata saved.";
  });
  return (
    <Section title="Metadata" id="metadata">
      <p>One JSON object per user of the app, shared by all its tenants (at most 16 KiB). Saving sends only the change (a JSON merge patch).</p>
      {!mayRead ? (
        <NotAllowed permission="users:read" what="Reading metadata (app-wide)" />
      ) : (
        <>
          <LoadState load={load} what="the metadata" />
          {load.data ? (
            <ActionForm
              action={action}
              submit="Save metadata"
              busyText="Saving…"
              denied={mayWrite ? null : { permission: "users:write", what: "Changing metadata (app-wide)" }}
            >
              <Field label="Metadata (JSON)">
                <textarea rows={8} spellcheck={false} class="mono" value={shown} disabled={!mayWrite} onInput={(e) => setText(e.currentTarget.value)} />
              </Field>
            </ActionForm>
          ) : null}
        </>
      )}
    </Section>
  );
}
