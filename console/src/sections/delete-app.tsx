// Deleting an app (the platform owner only; never `public`): everything under it goes, its
// edge state included, and no app of that id can be made until the deletion is done.

import { admin } from "../api";
import { hashOf, navigate } from "../router";
import { useSession } from "../session";
import { Section } from "../ui";
import { DeleteWithProgress } from "./deletion";
import type { AppSectionProps } from "./registry";

export function DeleteAppSection({ app }: AppSectionProps) {
  const { me } = useSession();
  if (app === "public") return null;
  const owner = me.operator.is_platform_owner;
  return (
    <Section title="Delete this app" id="delete-app">
      {owner ? (
        <DeleteWithProgress
          app={app}
          label={`Delete the app ${app}`}
          confirm={`Yes, delete ${app} and everything in it`}
          start={() => admin.deleteApp(app)}
          onDone={() => navigate(hashOf([]))}
        >
          <p>
            Every tenant, end user, session, API key, member, role and audit entry of the app goes, at the edge too. It is gone
            for everyone at once; the rest follows in batches. This cannot be undone.
          </p>
        </DeleteWithProgress>
      ) : (
        <p class="muted not-allowed">Only the platform owner may delete an app.</p>
      )}
    </Section>
  );
}
