// A tenant's end users: search by email prefix, filter by status and plan, one keyset page at
// a time (the API pages over indexes, so page 2,000 costs what page 1 does); a user's page
// gathers what an operator may do to it (`sections/registry.ts`).

import { useState } from "preact/hooks";
import { can } from "../access";
import { admin, type User } from "../api";
import { hashOf, navigate } from "../router";
import { userSections } from "../sections/registry";
import { useSession } from "../session";
import { ActionForm, Cell, Empty, Field, LoadState, NewPassword, PagerControls, Section, Table, Time, useAction, useLoad, usePaged } from "../ui";
import type { PageProps } from "./registry";

const PAGE_SIZES = ["25", "50", "100", "200"];

/** The filters of the list, as kept in the address (`?email=&status=&plan_tier=&limit=`). */
interface Filters {
  email: string;
  status: string;
  plan_tier: string;
  limit: string;
}

function filtersOf(query: URLSearchParams): Filters {
  return {
    email: query.get("email") ?? "",
    status: query.get("status") ?? "",
    plan_tier: query.get("plan_tier") ?? "",
    limit: PAGE_SIZES.includes(query.get("limit") ?? "") ? query.get("limit")! : "50",
  };
}

function listHash(app: string, tenant: string, f: Filters): string {
  return hashOf(["apps", app, "tenants", tenant, "users"], { ...f, limit: f.limit === "50" ? "" : f.limit });
}

export function UsersPage(props: PageProps) {
  return props.rest[0] ? <UserPage {...props} userId={props.rest[0]} /> : <UserListPage {...props} />;
}

function UserListPage({ app, tenant, query }: PageProps) {
  const { me } = useSession();
  const applied = filtersOf(query);
  return (
    <>
      <h1 tabIndex={-1}>
        End users <span class="muted">of {tenant}</span>
      </h1>
      <FilterForm key={JSON.stringify(applied)} applied={applied} onApply={(f) => navigate(listHash(app, tenant, f))} />
      <UserList key={JSON.stringify(applied)} app={app} tenant={tenant} filters={applied} />
      {can(me, "users:write", app, tenant) ? <AddUser app={app} tenant={tenant} /> : null}
    </>
  );
}

function FilterForm({ applied, onApply }: { applied: Filters; onApply: (f: Filters) => void }) {
  const [f, setF] = useState(applied);
  const set = (k: keyof Filters) => (e: { currentTarget: { value: string } }) => setF({ ...f, [k]: e.currentTarget.value });
  return (
    <form
      class="form filters"
      role="search"
      aria-label="Filter end users"
      onSubmit={(e) => {
        e.preventDefault();
        onApply(f);
      }}
    >
      <Field label="Email starts with">
        <input type="search" name="email" value={f.email} onInput={set("email")} autoComplete="off" />
      </Field>
      <Field label="Status">
        <select name="status" value={f.status} onChange={set("status")}>
          <option value="">any</option>
          <option value="active">active</option>
          <option value="suspended">suspended</option>
        </select>
      </Field>
      <Field label="Plan">
        <input type="text" name="plan_tier" value={f.plan_tier} placeholder="any" onInput={set("plan_tier")} />
      </Field>
      <Field label="Per page">
        <select name="limit" value={f.limit} onChange={set("limit")}>
          {PAGE_SIZES.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      </Field>
      <div class="actions">
        <button type="submit">Search</button>
        <button type="button" class="secondary" onClick={() => onApply({ email: "", status: "", plan_tier: "", limit: f.limit })}>
          Clear
        </button>
      </div>
    </form>
  );
}

function UserList({ app, tenant, filters }: { app: string; tenant: string; filters: Filters }) {
  const list = usePaged((cursor) =>
    admin.users(app, tenant, {
      email: filters.email,
      status: filters.status,
      plan_tier: filters.plan_tier,
      limit: filters.limit,
      cursor,
    }),
  );
  const detail = (u: User) => hashOf(["apps", app, "tenants", tenant, "users", u.id], { ...filters });
  return (
    <Section title="Users" id="users">
      <LoadState load={list} what="the users" />
      {list.data ? (
        <>
          <Table caption="End users" columns={["Email", "Status", "Plan", "Roles", "Created"]}>
            {list.data.items.length === 0 ? <Empty colSpan={5} text="No user matches." /> : null}
            {list.data.items.map((u) => (
              <tr key={u.id}>
                <Cell label="Email">
                  <a href={detail(u)}>{u.email}</a>
                </Cell>
                <Cell label="Status">
                  <span class={`badge ${u.status}`}>{u.status}</span>
                </Cell>
                <Cell label="Plan">{u.plan_tier}</Cell>
                <Cell label="Roles">{u.roles.join(", ") || <span class="muted">none</span>}</Cell>
                <Cell label="Created">
                  <Time at={u.created_at} />
                </Cell>
              </tr>
            ))}
          </Table>
          <PagerControls list={list} label="Users" />
        </>
      ) : null}
    </Section>
  );
}

function AddUser({ app, tenant }: { app: string; tenant: string }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const action = useAction(async () => {
    const { user } = await admin.createUser(app, tenant, password ? { email: email.trim(), password } : { email: email.trim() });
    navigate(hashOf(["apps", app, "tenants", tenant, "users", user.id]));
  });
  return (
    <Section title="Add a user" id="add-user">
      <ActionForm action={action} inline submit="Add user" busyText="Adding…">
        <Field label="Email">
          <input type="email" required autoComplete="off" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </Field>
        <Field label="Password (optional)" hint="Without one, the user sets it through a reset or signs in without">
          <NewPassword required={false} value={password} onInput={setPassword} />
        </Field>
      </ActionForm>
    </Section>
  );
}

function UserPage({ app, tenant, query, userId }: PageProps & { userId: string }) {
  const { me } = useSession();
  const load = useLoad(() => admin.user(app, tenant, userId), [app, tenant, userId]);
  const user = load.data?.user;
  const back = listHash(app, tenant, filtersOf(query));
  return (
    <>
      <p>
        <a href={back}>← End users of {tenant}</a>
      </p>
      <h1 tabIndex={-1}>{user ? user.email : "End user"}</h1>
      <LoadState load={load} what="the user" />
      {user
        ? userSections
            .filter((s) => can(me, s.requires, app, tenant))
            .map((s) => <s.component key={s.id} app={app} tenant={tenant} user={user} onChange={(u) => load.set({ user: u })} />)
        : null}
    </>
  );
}
