// Operator sign-in (`POST /admin/auth/signin`), and the ways back in: a password reset by
// email, or an invitation's token.

import { useState } from "preact/hooks";
import { admin } from "../api";
import { hashOf } from "../router";
import { prefill } from "../session";
import { ActionForm, Field, useAction } from "../ui";

export function SignInPage({ onSignedIn, notice }: { onSignedIn: (token: string) => Promise<void>; notice: string | null }) {
  const [email, setEmail] = useState(prefill.email);
  const [password, setPassword] = useState("");
  const [forgot, setForgot] = useState(false);
  const action = useAction(async () => {
    const { access_token } = await admin.signin(email.trim(), password);
    setPassword("");
    await onSignedIn(access_token);
  });
  return (
    <main id="main" class="narrow" tabIndex={-1}>
      <h1>Sign in to the Tessera console</h1>
      {notice ? (
        <p class="notice" role="status">
          {notice}
        </p>
      ) : null}
      <div class="card">
        <ActionForm action={action} submit="Sign in" busyText="Signing in…">
          <Field label="Email">
            <input type="email" name="email" required autoComplete="username" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          </Field>
          <Field label="Password">
            <input type="password" name="password" required autoComplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          </Field>
        </ActionForm>
      </div>
      <p>
        <button type="button" class="link" aria-expanded={forgot} onClick={() => setForgot(!forgot)}>
          Forgot your password?
        </button>{" "}
        · <a href={hashOf(["accept"])}>Accept an invitation</a> · <a href={hashOf(["signup"])}>Create an app</a>
      </p>
      {forgot ? <ForgotPassword email={email} /> : null}
    </main>
  );
}

function ForgotPassword({ email: initial }: { email: string }) {
  const [email, setEmail] = useState(initial);
  const action = useAction(async () => {
    await admin.sendPasswordReset(email.trim());
    return "If an operator has this address, a reset link is on its way.";
  });
  return (
    <div class="card">
      <ActionForm action={action} label="Reset your password" submit="Send a reset link" busyText="Sending…">
        <Field label="Your email">
          <input type="email" required autoComplete="username" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </Field>
      </ActionForm>
    </div>
  );
}
