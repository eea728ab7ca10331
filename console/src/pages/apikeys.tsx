// A tenant's API keys: create (the key is shown once), list without secrets, revoke. Scopes
// the caller does not hold itself are not offered (the API refuses them too).

import { useState } from "preact/hooks";
import { can, PERMISSIONS } from "../access";
import { admin } from "../api";
import { useSession } from "../session";
import {
  ActionForm,
  ActionState,
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

export function ApiKeysPage({ app, tenant }: PageProps) {
  const { me } = useSession();
  const [generation, setGeneration] = useState(0);
  const mayWrite = can(me, "apikeys:write", app, tenant);
  return (
    <>
      <h1 tabIndex={-1}>
        API keys <span class="muted">of {tenant}</span>
      </h1>
      {mayWrite ? (
        <CreateKey app={app} tenant={tenant} onCreated={() => setGeneration((g) => g + 1)} />
      ) : (
        <NotAllowed permission="apikeys:write" what="Creating and listing API keys" />
      )}
      <KeyList key={generation} app={app} tenant={tenant} />
    </>
  );
}

function CreateKey({ app, tenant, onCreated }: { app: string; tenant: string; onCreated: () => void }) {
  const { me } = useSession();
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<string[]>(["introspect"]);
  const [created, setCreated] = useState<{ name: string; key: string } | null>(null);
  const options = [
    { value: "introspect", label: "introspect — token introspection and revocation" },
    ...PERMISSIONS.map((p) => {
      const held = can(me, p, app, tenant);
      return { value: p, disabled: !held, title: held ? undefined : "You cannot grant what you do not hold" };
    }),
  ];
  const action = useAction(async () => {
    const answer = await admin.createApiKey(app, tenant, { name: name.trim(), scopes });
    setCreated({ name: answer.name, key: answer.key });
    setName("");
    onCreated();
    return `The key ${answer.name} is created.`;
  });
  return (
    <Section title="Create an API key" id="create-key">
      {created ? <OnceSecret title={`API key ${created.name}`} values={[{ label: "Key", value: created.key }]} onDismiss={() => setCreated(null)} /> : null}
      <ActionForm action={action} submit="Create key" busyText="Creating…">
        <Field label="Name">
          <input type="text" name="key-name" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Checkboxes legend="Scopes" options={options} value={scopes} onChange={setScopes} />
      </ActionForm>
    </Section>
  );
}

function KeyList({ app, tenant }: { app: string; tenant: string }) {
  const list = usePaged((cursor) => admin.apiKeys(app, tenant, { limit: 50, cursor }));
  return (
    <Section title="Keys" id="keys">
      <LoadState load={list} what="the API keys" />
      {list.data ? (
        <>
          <Table caption="API keys" columns={["Name", "Scopes", "Created", "Actions"]}>
            {list.data.items.length === 0 ? <Empty colSpan={4} text="No API keys." /> : null}
            {list.data.items.map((k) => (
              <KeyRow key={k.id} app={app} tenant={tenant} id={k.id} name={k.name} scopes={k.scopes} createdAt={k.created_at} onRevoked={list.reload} />
            ))}
          </Table>
          <PagerControls list={list} label="API keys" />
        </>
      ) : null}
    </Section>
  );
}

function KeyRow(props: { app: string; tenant: string; id: string; name: string; scopes: string[]; createdAt: string; onRevoked: () => void }) {
  const revoke = useAction(async () => {
    await admin.deleteApiKey(props.app, props.tenant, props.id);
    props.onRevoked();
  });
  return (
    <tr data-key={props.name}>
      <Cell label="Name">{props.name}</Cell>
      <Cell label="Scopes">{props.scopes.join(", ")}</Cell>
      <Cell label="Created">
        <Time at={props.createdAt} />
      </Cell>
      <Cell label="Actions">
        <ConfirmButton label="Revoke" confirm={`Yes, revoke ${props.name}`} busy={revoke.busy} onConfirm={() => void revoke.run()} />
        <ActionState action={revoke} />
      </Cell>
    </tr>
  );
}
