// The app's team (`/admin/apps/{app}/members`): invite (the invitation's link and token are
// shown once), suspend and reactivate, change roles (built-in and the app's own) and
// membership type, remove; each membership's source. Each action is offered where the caller
// holds members:write over that membership's scope.

import { useState } from "preact/hooks";
import { can, tenantScope } from "../access";
import { admin, type Member } from "../api";
import { MEMBERSHIP_TYPES, useOperatorRoles, type RoleOption } from "../roles";
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
  usePaged,
} from "../ui";
import type { PageProps } from "./registry";

/** The link that opens the console's acceptance form with the token (kept after `#`: never sent to a server). */
export function inviteLink(token: string): string {
  return `${location.origin}/console/#/accept?token=${encodeURIComponent(token)}`;
}

export function TeamPage({ app }: PageProps) {
  const { me } = useSession();
  const [generation, setGeneration] = useState(0);
  const scope = tenantScope(me, app);
  const mayInvite = can(me, "members:write", app, scope);
  const roles = useOperatorRoles(app);
  return (
    <>
      <h1 tabIndex={-1}>Team of {app}</h1>
      {mayInvite ? (
        <Invite app={app} scope={scope} roleOptions={roles} onInvited={() => setGeneration((g) => g + 1)} />
      ) : (
        <NotAllowed permission="members:write" what="Inviting operators" />
      )}
      <Members key={generation} app={app} roleOptions={roles} />
    </>
  );
}

function Members({ app, roleOptions }: { app: string; roleOptions: RoleOption[] }) {
  const list = usePaged((cursor) => admin.members(app, { limit: 50, cursor }));
  return (
    <Section title="Members" id="members">
      <LoadState load={list} what="the members" />
      {list.data ? (
        <>
          <Table caption="Members" columns={["Email", "Type", "Roles", "Acts in", "Status", "Source", "Actions"]}>
            {list.data.items.length === 0 ? <Empty colSpan={7} text="No members." /> : null}
            {list.data.items.map((m) => (
              <MemberRow key={m.id} app={app} member={m} roleOptions={roleOptions} onChange={list.reload} />
            ))}
          </Table>
          <PagerControls list={list} label="Members" />
        </>
      ) : null}
    </Section>
  );
}

/** The membership type: metadata for people, never a permission. */
function MembershipTypeField({ value, onChange }: { value: string; onChange: (type: string) => void }) {
  return (
    <Field label="Membership type" hint="For people to read; it grants nothing">
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {MEMBERSHIP_TYPES.map((t) => (
          <option key={t} value={t}>
            {t}
          </option>
        ))}
      </select>
    </Field>
  );
}

/** Words for how a membership came to be. */
const SOURCES: Record<Member["source"], string> = {
  bootstrap: "bootstrap (platform owner)",
  invite: "invitation",
  signup: "sign-up",
  scim: "SCIM",
};

function MemberRow({
  app,
  member,
  roleOptions,
  onChange,
}: {
  app: string;
  member: Member;
  roleOptions: RoleOption[];
  onChange: () => void;
}) {
  const { me, refresh } = useSession();
  const [current, setCurrent] = useState(member);
  const [editing, setEditing] = useState(false);
  const [roles, setRoles] = useState<string[]>(member.roles);
  const [type, setType] = useState(member.membership_type);
  const mayWrite = can(me, "members:write", app, current.tenant_id);
  const lacks = mayWrite ? null : ("members:write" as const);
  const isMe = current.operator_id === me.operator.id;
  const patch = useAction(async (body: { status?: string; roles?: string[]; membership_type?: string }, done: string) => {
    const { member: changed } = await admin.patchMember(app, current.id, body);
    setCurrent(changed);
    setRoles(changed.roles);
    setType(changed.membership_type);
    setEditing(false);
    if (isMe) await refresh();
    if (changed.status === "left") onChange();
    return done;
  });
  return (
    <tr class={current.status === "left" ? "muted" : undefined} data-member={current.email}>
      <Cell label="Email">
        {current.email}
        {isMe ? <span class="badge">you</span> : null}
      </Cell>
      <Cell label="Type">{current.membership_type}</Cell>
      <Cell label="Roles">
        {editing ? (
          <form
            class="form"
            aria-label={`Roles and type of ${current.email}`}
            onSubmit={(e) => {
              e.preventDefault();
              // Only what changed: relabelling the type takes more than changing roles.
              const body: { roles?: string[]; membership_type?: string } = {};
              if (roles.join() !== current.roles.join()) body.roles = roles;
              if (type !== current.membership_type) body.membership_type = type;
              if (!body.roles && !body.membership_type) return setEditing(false);
              void patch.run(body, "Saved.");
            }}
          >
            <MembershipTypeField value={type} onChange={setType} />
            <Checkboxes legend={`Roles of ${current.email}`} options={roleOptions} value={roles} onChange={setRoles} />
            <Button type="submit" busy={patch.busy} busyText="Saving…">
              Save
            </Button>{" "}
            <button type="button" class="secondary" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </form>
        ) : (
          current.roles.join(", ") || <span class="muted">none</span>
        )}
      </Cell>
      <Cell label="Acts in">{current.tenant_id ? `tenant ${current.tenant_id}` : "the whole app"}</Cell>
      <Cell label="Status">
        <span class={`badge ${current.status}`}>{current.status}</span>
        {current.status === "invited" ? (
          <span class="hint">
            {" "}
            until <Time at={current.invite_expires_at} />
          </span>
        ) : null}
      </Cell>
      <Cell label="Source">{SOURCES[current.source] ?? current.source}</Cell>
      <Cell label="Actions">
        {current.status === "left" ? null : (
          <div class="actions">
            {current.status === "active" ? (
              <Button lacks={lacks} busy={patch.busy} busyText="Suspending…" onClick={() => void patch.run({ status: "suspended" }, "Suspended.")}>
                Suspend
              </Button>
            ) : null}
            {current.status === "suspended" ? (
              <Button lacks={lacks} busy={patch.busy} busyText="Reactivating…" onClick={() => void patch.run({ status: "active" }, "Active again.")}>
                Reactivate
              </Button>
            ) : null}
            {!editing ? (
              <Button class="secondary" lacks={lacks} onClick={() => setEditing(true)}>
                Change roles or type
              </Button>
            ) : null}
            <ConfirmButton
              label={current.status === "invited" ? "Withdraw" : isMe ? "Leave" : "Remove"}
              confirm={isMe ? "Yes, leave the app" : `Yes, remove ${current.email}`}
              busy={patch.busy}
              lacks={lacks}
              onConfirm={() => void patch.run({ status: "left" }, "Removed.")}
            />
          </div>
        )}
        <ActionState action={patch} />
      </Cell>
    </tr>
  );
}

function Invite({
  app,
  scope,
  roleOptions,
  onInvited,
}: {
  app: string;
  scope: string | null;
  roleOptions: RoleOption[];
  onInvited: () => void;
}) {
  const [email, setEmail] = useState("");
  const [type, setType] = useState<string>("member");
  const [roles, setRoles] = useState<string[]>([]);
  const [tenant, setTenant] = useState(scope ?? "");
  const [invited, setInvited] = useState<{ email: string; token: string } | null>(null);
  const action = useAction(async () => {
    const answer = await admin.invite(app, {
      email: email.trim(),
      membership_type: type,
      roles,
      tenant_id: tenant.trim() || null,
    });
    setInvited({ email: answer.member.email, token: answer.invite_token });
    setEmail("");
    setRoles([]);
    onInvited();
    return `${answer.member.email} is invited.`;
  });
  return (
    <Section title="Invite an operator" id="invite">
      {invited ? (
        <OnceSecret
          title={`Invitation for ${invited.email}`}
          values={[
            { label: "Link", value: inviteLink(invited.token) },
            { label: "Token", value: invited.token },
          ]}
          onDismiss={() => setInvited(null)}
        />
      ) : null}
      <ActionForm action={action} submit="Invite" busyText="Inviting…">
        <Field label="Email">
          <input type="email" name="invite-email" required autoComplete="off" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </Field>
        <MembershipTypeField value={type} onChange={setType} />
        <Checkboxes legend="Roles" options={roleOptions} value={roles} onChange={setRoles} />
        <Field label="Acts only in tenant" hint={scope ? "Your own membership reaches this tenant only" : "Empty: the whole app"}>
          <input type="text" value={tenant} disabled={!!scope} placeholder="tenant id" onInput={(e) => setTenant(e.currentTarget.value)} />
        </Field>
      </ActionForm>
    </Section>
  );
}
