// The app's audit log, newest first, one keyset page at a time; the API filters by tenant.

import { useState } from "preact/hooks";
import { admin, type AuditEntry } from "../api";
import { hashOf, navigate } from "../router";
import { useSession } from "../session";
import { Cell, Empty, Field, LoadState, PagerControls, Section, Table, Time, usePaged } from "../ui";
import type { PageProps } from "./registry";

export function AuditPage({ app, query }: PageProps) {
  const { me } = useSession();
  const tenant = query.get("tenant_id") ?? "";
  const [typed, setTyped] = useState(tenant);
  return (
    <>
      <h1 tabIndex={-1}>Audit log of {app}</h1>
      <form
        class="form inline filters"
        role="search"
        aria-label="Filter the audit log"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(hashOf(["apps", app, "audit"], { tenant_id: typed.trim() }));
        }}
      >
        <Field label="Tenant" hint="Empty: every entry of the app">
          <input type="text" name="tenant_id" value={typed} placeholder="any" onInput={(e) => setTyped(e.currentTarget.value)} />
        </Field>
        <button type="submit">Filter</button>
      </form>
      <Entries key={tenant} app={app} tenant={tenant} self={me.operator.id} />
    </>
  );
}

function actorText(actor: string, self: string): string {
  return actor === `operator:${self}` ? "you" : actor;
}

function Entries({ app, tenant, self }: { app: string; tenant: string; self: string }) {
  const list = usePaged((cursor) => admin.audit(app, { tenant_id: tenant, limit: 50, cursor }));
  return (
    <Section title={tenant ? `Entries of tenant ${tenant}` : "Entries"} id="entries">
      <LoadState load={list} what="the audit log" />
      {list.data ? (
        <>
          <Table caption="Audit entries" columns={["Time", "Actor", "Action", "Target", "Tenant", "Detail"]}>
            {list.data.items.length === 0 ? <Empty colSpan={6} text="No entries." /> : null}
            {list.data.items.map((e: AuditEntry) => (
              <tr key={e.id} data-action={e.action}>
                <Cell label="Time">
                  <Time at={e.at} />
                </Cell>
                <Cell label="Actor">
                  <span class="wrap">{actorText(e.actor, self)}</span>
                </Cell>
                <Cell label="Action">
                  <code>{e.action}</code>
                </Cell>
                <Cell label="Target">
                  <span class="wrap">{e.target}</span>
                </Cell>
                <Cell label="Tenant">{e.tenant_id ?? <span class="muted">—</span>}</Cell>
                <Cell label="Detail">
                  <code class="wrap detail">{JSON.stringify(e.detail)}</code>
                </Cell>
              </tr>
            ))}
          </Table>
          <PagerControls list={list} label="Audit" />
        </>
      ) : null}
    </Section>
  );
}
