// Accepting an invitation (`POST /admin/invites/accept`): a new operator chooses its password;
// an existing one of that email proves it with its own. The token comes in the link's
// fragment (`#/accept?token=…`), is taken out of the address bar at once, and is never stored.

import { useEffect, useState } from "preact/hooks";
import { admin } from "../api";
import { hashOf, navigate, replace } from "../router";
import { prefill } from "../session";
import { ActionForm, Field, NewPassword, useAction } from "../ui";

export function AcceptPage({ token: fromLink }: { token: string }) {
  const [token, setToken] = useState(fromLink);
  const [password, setPassword] = useState("");
  const [accepted, setAccepted] = useState<{ app: string; email: string } | null>(null);
  useEffect(() => {
    if (fromLink) replace(hashOf(["accept"]));
  }, [fromLink]);
  const action = useAction(async () => {
    const { member } = await admin.acceptInvite(token.trim(), password);
    setPassword("");
    setToken("");
    setAccepted({ app: member.app_id, email: member.email });
  });
  return (
    <main id="main" class="narrow" tabIndex={-1}>
      <h1>Accept an invitation</h1>
      {accepted ? (
        <div class="card" role="status">
          <p>
            You are now a member of the app <strong>{accepted.app}</strong> as {accepted.email}.
          </p>
          <button
            type="button"
            onClick={() => {
              prefill.email = accepted.email;
              navigate(hashOf([]));
            }}
          >
            Sign in
          </button>
        </div>
      ) : (
        <div class="card">
          <ActionForm action={action} submit="Accept invitation" busyText="Accepting…">
            <Field label="Invitation token" hint="From your invitation link (tsi_…)">
              <input type="text" name="invite_token" required autoComplete="off" spellcheck={false} value={token} onInput={(e) => setToken(e.currentTarget.value)} />
            </Field>
            <Field label="Password" hint="New here: choose one (8 to 128 characters). Already an operator with this email: your password.">
              <NewPassword name="password" value={password} onInput={setPassword} />
            </Field>
          </ActionForm>
        </div>
      )}
      <p>
        <a href={hashOf([])}>Back to sign-in</a>
      </p>
    </main>
  );
}
