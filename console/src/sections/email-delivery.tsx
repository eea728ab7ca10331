// The app's email delivery (`/admin/apps/{app}/email-delivery`): none, the outbox (development
// only) or a signed webhook, whose secret is shown once.

import { useState } from "preact/hooks";
import { can } from "../access";
import { admin, type Delivery } from "../api";
import { useSession } from "../session";
import { ActionForm, Field, LoadState, NotAllowed, OnceSecret, Section, useAction, useLoad } from "../ui";
import type { AppSectionProps } from "./registry";

const KINDS: { value: Delivery["kind"]; label: string; hint: string }[] = [
  { value: "none", label: "None", hint: "Flows that send email answer email_delivery_not_configured." },
  { value: "outbox", label: "Outbox", hint: "Messages are kept for 24 h and readable by operators: for development only, never in production." },
  { value: "webhook", label: "Webhook", hint: "Each message is POSTed, signed, to your mailer." },
];

export function EmailDeliverySection({ app }: AppSectionProps) {
  const { me } = useSession();
  const load = useLoad(() => admin.delivery(app), [app]);
  const mayWrite = can(me, "tenants:write", app);
  const [kind, setKind] = useState<Delivery["kind"] | null>(null);
  const [url, setUrl] = useState<string | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const current = load.data?.delivery;
  const chosen = kind ?? current?.kind ?? "none";
  const action = useAction(async () => {
    const body = chosen === "webhook" ? { kind: chosen, url: (url ?? current?.url ?? "").trim() } : { kind: chosen };
    const answer = await admin.putDelivery(app, body);
    load.set({ delivery: answer.delivery });
    setKind(null);
    setUrl(null);
    if (answer.secret) setSecret(answer.secret);
    return `Email delivery is now ${answer.delivery.kind}.`;
  });
  return (
    <Section title="Email delivery" id="email-delivery">
      <LoadState load={load} what="the email delivery" />
      {current ? (
        <p>
          Now: <strong data-testid="delivery-kind">{current.kind}</strong>
          {current.url ? (
            <>
              {" "}
              to <code>{current.url}</code>
            </>
          ) : null}
        </p>
      ) : null}
      {secret ? (
        <OnceSecret title="Webhook signing secret" values={[{ label: "Secret", value: secret }]} onDismiss={() => setSecret(null)} />
      ) : null}
      {!mayWrite ? (
        <NotAllowed permission="tenants:write" what="Changing the delivery" />
      ) : current ? (
        <ActionForm action={action} submit="Save delivery" busyText="Saving…">
          <fieldset class="checks">
            <legend>Deliver email by</legend>
            {KINDS.map((k) => (
              <label class="check" key={k.value}>
                <input type="radio" name={`delivery-${app}`} value={k.value} checked={chosen === k.value} onChange={() => setKind(k.value)} />{" "}
                {k.label} <span class="hint">— {k.hint}</span>
              </label>
            ))}
          </fieldset>
          {chosen === "webhook" ? (
            <Field label="Mailer URL" hint="https, or http on a loopback host">
              <input type="url" required value={url ?? current.url ?? ""} onInput={(e) => setUrl(e.currentTarget.value)} />
            </Field>
          ) : null}
        </ActionForm>
      ) : null}
    </Section>
  );
}
