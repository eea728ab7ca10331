// Deleting an end user: from this tenant (its face, sessions and flags here; the user itself
// when no tenant is left), or from the whole app (erasure: identities, metadata, sessions and
// grants in every tenant — it takes users:write on each of them, which the API checks).

import { can } from "../access";
import { admin } from "../api";
import { hashOf, navigate } from "../router";
import { useSession } from "../session";
import { NotAllowed, Section } from "../ui";
import { DeleteWithProgress } from "./deletion";
import type { UserSectionProps } from "./registry";

export function DeleteUserSection({ app, tenant, user }: UserSectionProps) {
  const { me } = useSession();
  const mayHere = can(me, "users:write", app, tenant);
  // Erasure takes users:write on every tenant of the user, which this page cannot see: it is
  // offered to app-wide members (a member narrowed to one tenant may erase only a user of that
  // tenant alone, and the API decides that).
  const mayErase = can(me, "users:write", app);
  const back = () => navigate(hashOf(["apps", app, "tenants", tenant, "users"]));
  return (
    <Section title="Delete" id="delete-user">
      <DeleteWithProgress
        app={app}
        label={`Remove from ${tenant}`}
        confirm={`Yes, remove ${user.email} from ${tenant}`}
        lacks={mayHere ? null : "users:write"}
        start={() => admin.deleteUser(app, tenant, user.id)}
        onDone={back}
      >
        <p>
          <strong>From this tenant:</strong> the user can no longer sign in here; its sessions and state here go. Its other
          tenants keep it; with none left, the user and its metadata are deleted.
        </p>
      </DeleteWithProgress>
      {mayErase ? (
        <DeleteWithProgress
          app={app}
          label="Erase from the app"
          confirm={`Yes, erase ${user.email} everywhere`}
          start={() => admin.eraseUser(app, user.id)}
          onDone={back}
        >
          <p>
            <strong>From the whole app (erasure):</strong> the user, its metadata, identities, sessions and grants in every
            tenant; audit entries that named it name the deletion instead. This cannot be undone.
          </p>
        </DeleteWithProgress>
      ) : (
        <NotAllowed permission="users:write" what="Erasing a user from the whole app (app-wide)" />
      )}
    </Section>
  );
}
