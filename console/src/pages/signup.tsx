// Operator sign-up (`POST /admin/signup`, when the deployment sets OPERATOR_SIGNUP = "open";
// the API answers 404 otherwise): a new app with its tenant `public`, the caller its owner.
// The app offers its settings only until the owner's email is verified.

import { useState } from "preact/hooks";
import { admin } from "../api";
import { ApiError } from "../problem";
import { hashOf, navigate } from "../router";
import { ActionForm, Field, NewPassword, useAction } from "../ui";

export function SignUpPage({ onSignedIn }: { onSignedIn: (token: string) => Promise<void> }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [app, setApp] = useState("");
  const action = useAction(async () => {
    try {
      await admin.signup(email.trim(), password, app.trim());
    } catch (e) {
      if (e instanceof ApiError && e.problem.status === 404 && e.problem.code === "not_found") {
        throw new ApiError({ ...e.problem, detail: "Sign-up is closed on this deployment: ask its platform owner for an invitation." });
      }
      throw e;
    }
    const { access_token } = await admin.signin(email.trim(), password);
    setPassword("");
    await onSignedIn(access_token);
    navigate(hashOf([]));
  });
  return (
    <main id="main" class="narrow" tabIndex={-1}>
      <h1>Create an app</h1>
      <div class="card">
        <ActionForm action={action} submit="Sign up" busyText="Signing up…">
          <Field label="Email" hint="A verification link is sent here; the app offers its settings only until then">
            <input type="email" required autoComplete="username" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          </Field>
          <Field label="Password" hint="8 to 128 characters">
            <NewPassword value={password} onInput={setPassword} />
          </Field>
          <Field label="App id" hint="Lower-case letters, digits and dashes, e.g. shop-prod">
            <input type="text" required pattern="[a-z0-9][a-z0-9-]{0,62}" value={app} onInput={(e) => setApp(e.currentTarget.value)} />
          </Field>
        </ActionForm>
      </div>
      <p>
        <a href={hashOf([])}>Back to sign-in</a>
      </p>
    </main>
  );
}
