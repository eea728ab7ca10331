// The app's operator roles (`/admin/apps/{app}/operator-roles`): the built-in ones and the
// app's own, which are bound like them on the Team page. Defining or changing one takes
// members:write and every permission it grants (the console offers only those the caller
// holds; the API checks); built-in roles cannot be changed, and a role a membership still
// binds cannot be deleted (the API's 409 says so).

import { useState } from "preact/hooks";
import { can, PERMISSIONS } from "../access";
import { admin, type OperatorRole } from "../api";
import { useSession } from "../session";
import {
  ActionForm,
  Cell,
  ChangeOrDelete,
  Checkboxes,
  Empty,
  Field,
  LoadState,
  NotAllowed,
  PagerControls,
  Section,
  Table,
  useAction,
  usePaged,
} from "../ui";
import type { PageProps } from "./registry";

export function OperatorRolesPage({ app }: PageProps) {
  const { me } = useSession();
  const mayWrite = can(me, "members:write", app);
  const [generation, setGeneration] = useState(0);
  const [editing, setEditing] = useState<OperatorRole | null>(null);
  const changed = () => {
    setEditing(null);
    setGeneration((g) => g + 1);
  };
  return (
    <>
      <h1 tabIndex={-1}>Operator roles of {app}</h1>
      <RoleList key={generation} app={app} mayWrite={mayWrite} onEdit={setEditing} onDeleted={changed} />
      {mayWrite ? (
        <DefineRole key={editing?.name ?? "new"} app={app} editing={editing} onSaved={changed} onCancel={() => setEditing(null)} />
      ) : (
        <NotAllowed permission="members:write" what="Defining operator roles" />
      )}
    </>
  );
}

function RoleList({
  app,
  mayWrite,
  onEdit,
  onDeleted,
}: {
  app: string;
  mayWrite: boolean;
  onEdit: (r: OperatorRole) => void;
  onDeleted: () => void;
}) {
  const list = usePaged((cursor) => admin.operatorRoles(app, { limit: 50, cursor }));
  return (
    <Section title="Roles" id="roles">
      <LoadState load={list} what="the roles" />
      {list.data ? (
        <>
          <Table caption="Operator roles" columns={["Role", "Permissions", "Kind", "Actions"]}>
            {list.data.items.length === 0 ? <Empty colSpan={4} text="No roles." /> : null}
            {list.data.items.map((r) => (
              <RoleRow key={r.name} app={app} role={r} mayWrite={mayWrite} onEdit={onEdit} onDeleted={onDeleted} />
            ))}
          </Table>
          <PagerControls list={list} label="Roles" />
        </>
      ) : null}
    </Section>
  );
}

function RoleRow({
  app,
  role,
  mayWrite,
  onEdit,
  onDeleted,
}: {
  app: string;
  role: OperatorRole;
  mayWrite: boolean;
  onEdit: (r: OperatorRole) => void;
  onDeleted: () => void;
}) {
  const lacks = mayWrite ? null : ("members:write" as const);
  const remove = useAction(async () => {
    await admin.deleteOperatorRole(app, role.name);
    onDeleted();
  });
  return (
    <tr data-role={role.name}>
      <Cell label="Role">
        <code>{role.name}</code>
      </Cell>
      <Cell label="Permissions">{role.permissions.join(", ") || <span class="muted">none</span>}</Cell>
      <Cell label="Kind">{role.built_in ? "built-in" : "the app's own"}</Cell>
      <Cell label="Actions">
        {role.built_in ? (
          <span class="muted">fixed</span>
        ) : (
          <ChangeOrDelete name={role.name} lacks={lacks} onChange={() => onEdit(role)} remove={remove} />
        )}
      </Cell>
    </tr>
  );
}

function DefineRole({
  app,
  editing,
  onSaved,
  onCancel,
}: {
  app: string;
  editing: OperatorRole | null;
  onSaved: () => void;
  onCancel: () => void;
}) {
  const { me } = useSession();
  const [name, setName] = useState(editing?.name ?? "");
  const [permissions, setPermissions] = useState<string[]>(editing?.permissions ?? []);
  const action = useAction(async () => {
    const { role } = await admin.putOperatorRole(app, name.trim(), permissions);
    onSaved();
    return `Role ${role.name} saved.`;
  });
  // Nobody grants what they do not hold: those permissions are offered disabled.
  const options = PERMISSIONS.map((p) => {
    const held = can(me, p, app);
    return { value: p, disabled: !held, title: held ? undefined : `You do not hold ${p}` };
  });
  return (
    <Section title={editing ? `Change the role ${editing.name}` : "Define a role"} id="define-role">
      <ActionForm action={action} submit={editing ? "Save role" : "Define role"} busyText="Saving…">
        <Field label="Role name" hint="Lower-case letters, digits, dashes and underscores, e.g. reader">
          <input type="text" required value={name} disabled={!!editing} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Checkboxes legend="Permissions" options={options} value={permissions} onChange={setPermissions} />
        {editing ? (
          <button type="button" class="secondary" onClick={onCancel}>
            Cancel
          </button>
        ) : null}
      </ActionForm>
    </Section>
  );
}
