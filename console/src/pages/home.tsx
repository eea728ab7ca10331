// The apps the operator can see (`GET /admin/apps`), with its access in each; the platform
// owner creates apps here.

import { useState } from "preact/hooks";
import { membershipIn } from "../access";
import { admin } from "../api";
import { hashOf, navigate } from "../router";
import { useSession } from "../session";
import { ActionForm, Cell, Empty, Field, LoadState, PagerControls, Section, Table, Time, useAction, usePaged } from "../ui";

export function HomePage() {
  const { me } = useSession();
  const list = usePaged((cursor) => admin.apps({ limit: 50, cursor }));
  const owner = me.operator.is_platform_owner;
  return (
    <>
      <h1 tabIndex={-1}>Apps</h1>
      <Section title="Your apps" id="apps">
        <LoadState load={list} what="the apps" />
        {list.data ? (
          <>
            <Table caption="Apps" columns={["App", "Your access", "Created"]}>
              {list.data.items.length === 0 ? <Empty colSpan={3} text="No app you can see yet." /> : null}
              {list.data.items.map((a) => {
                const m = owner ? undefined : membershipIn(me, a.id);
                return (
                  <tr key={a.id}>
                    <Cell label="App">
                      <a href={hashOf(m?.tenant_id ? ["apps", a.id, "tenants", m.tenant_id] : ["apps", a.id])}>{a.id}</a>
                      {a.status === "pending_verification" ? (
                        <span class="badge invited" title="Its owner's email is not verified yet: settings only">
                          waits for email verification
                        </span>
                      ) : null}
                    </Cell>
                    <Cell label="Your access">
                      {owner
                        ? "platform owner (admin everywhere)"
                        : m
                          ? `${m.roles.join(", ") || "no roles"}${m.tenant_id ? ` in tenant ${m.tenant_id}` : ""}${m.status === "active" ? "" : ` (${m.status})`}`
                          : "—"}
                    </Cell>
                    <Cell label="Created">
                      <Time at={a.created_at} />
                    </Cell>
                  </tr>
                );
              })}
            </Table>
            <PagerControls list={list} label="Apps" />
          </>
        ) : null}
      </Section>
      {owner ? <CreateApp onCreated={list.reload} /> : null}
    </>
  );
}

function CreateApp({ onCreated }: { onCreated: () => void }) {
  const [id, setId] = useState("");
  const action = useAction(async () => {
    const { app } = await admin.createApp(id.trim());
    setId("");
    onCreated();
    navigate(hashOf(["apps", app.id]));
  });
  return (
    <Section title="Create an app" id="create-app">
      <ActionForm action={action} inline submit="Create app" busyText="Creating…">
        <Field label="App id" hint="Lower-case letters, digits and dashes, e.g. shop-prod">
          <input type="text" required pattern="[a-z0-9][a-z0-9-]{0,62}" value={id} onInput={(e) => setId(e.currentTarget.value)} />
        </Field>
      </ActionForm>
    </Section>
  );
}
