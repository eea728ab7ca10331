// Verifying an operator's email from the emailed link
// (`/console/?type=operator_email_verification&token=…`, see OPERATOR_LINK_BASE_URL): the apps
// the operator signed up for are usable beyond their settings from then on. The shell takes
// the token out of the address bar before anything renders; the page asks before using it
// (a mail scanner that opens links does not press buttons).

import { useState } from "preact/hooks";
import { admin } from "../api";
import { ActionForm, useAction } from "../ui";

export function VerifyEmailPage({ token, onDone }: { token: string; onDone: () => void }) {
  const [verified, setVerified] = useState<string | null>(null);
  const action = useAction(async () => {
    const { operator } = await admin.verifyEmail(token);
    setVerified(operator.email);
  });
  return (
    <main id="main" class="narrow" tabIndex={-1}>
      <h1>Verify your email</h1>
      {verified ? (
        <div class="card" role="status">
          <p>{verified} is verified: the apps you signed up for are fully usable now.</p>
          <button type="button" onClick={onDone}>
            Continue
          </button>
        </div>
      ) : (
        <div class="card">
          <ActionForm action={action} submit="Verify my email" busyText="Verifying…">
            <p>Confirm that this address is yours.</p>
          </ActionForm>
        </div>
      )}
    </main>
  );
}
