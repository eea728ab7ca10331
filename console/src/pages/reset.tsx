// Choosing a new operator password from an emailed link
// (`/console/?type=operator_password_reset&token=…`, see OPERATOR_LINK_BASE_URL). The shell
// takes the token out of the address bar before anything renders.

import { useState } from "preact/hooks";
import { admin } from "../api";
import { ActionForm, Field, NewPassword, useAction } from "../ui";

export function ResetPage({ token, onDone }: { token: string; onDone: () => void }) {
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const [finished, setFinished] = useState(false);
  const action = useAction(async () => {
    if (password !== again) throw new Error("The two passwords differ.");
    await admin.resetPassword(token, password);
    setPassword("");
    setAgain("");
    setFinished(true);
  });
  return (
    <main id="main" class="narrow" tabIndex={-1}>
      <h1>Choose a new password</h1>
      {finished ? (
        <div class="card" role="status">
          <p>Your password is changed; every operator token issued before now has stopped working.</p>
          <button type="button" onClick={onDone}>
            Sign in
          </button>
        </div>
      ) : (
        <div class="card">
          <ActionForm action={action} submit="Set password" busyText="Saving…">
            <Field label="New password" hint="8 to 128 characters">
              <NewPassword value={password} onInput={setPassword} />
            </Field>
            <Field label="New password again">
              <NewPassword value={again} onInput={setAgain} />
            </Field>
          </ActionForm>
        </div>
      )}
    </main>
  );
}
