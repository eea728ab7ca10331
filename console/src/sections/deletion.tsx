// Deleting an app, a tenant or a user, with the deletion's progress: a `DELETE` that finishes
// within its request answers 204 (done); a bigger one answers 202 with the deletion, which goes
// on by itself (the cron) or when the same `DELETE` is repeated ("Continue now"). Its progress
// is read again every few seconds while the page shows it. A user's deletion that only waits
// for the user's access tokens to expire is done for the operator (its DELETE answers 204;
// `onlyWaits` recognises it when its progress is read): the user is gone, and the rest goes by
// itself.

import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { Permission } from "../access";
import { admin, type Deletion, type DeletionStarted } from "../api";
import { onlyWaits, progressShare, progressText } from "../deletion";
import { ActionState, Button, ConfirmButton, useAction } from "../ui";

/** How often a running deletion's progress is read again. */
const POLL_MS = 3_000;

export function DeleteWithProgress({
  app,
  label,
  confirm,
  lacks,
  start,
  onDone,
  children,
}: {
  app: string;
  label: string;
  confirm: string;
  lacks?: Permission | null;
  /** The `DELETE` (also what continues a running deletion). */
  start: () => Promise<DeletionStarted>;
  /** Called once the deletion is done (the thing is gone). */
  onDone: () => void;
  children?: ComponentChildren;
}) {
  const [running, setRunning] = useState<Deletion | null>(null);
  const settle = (d: Deletion | null) => {
    if (!d || d.state === "done" || onlyWaits(d)) {
      setRunning(d);
      onDone();
    } else setRunning(d);
  };
  const action = useAction(async () => {
    const started = await start();
    settle(started?.deletion ?? null);
    if (started && onlyWaits(started.deletion)) return progressText(started.deletion);
    return started ? "Started: it is too big for one request and goes on by itself." : "Deleted.";
  });
  return (
    <div class="form">
      {children}
      {running ? (
        <Progress app={app} deletion={running} onChange={settle} onContinue={() => void action.run()} busy={action.busy} />
      ) : (
        <ConfirmButton label={label} confirm={confirm} busy={action.busy} lacks={lacks ?? null} onConfirm={() => void action.run()} />
      )}
      <ActionState action={action} />
    </div>
  );
}

function Progress({
  app,
  deletion,
  onChange,
  onContinue,
  busy,
}: {
  app: string;
  deletion: Deletion;
  onChange: (d: Deletion) => void;
  onContinue: () => void;
  busy: boolean;
}) {
  const refresh = useAction(async () => {
    const { deletion: now } = await admin.deletion(app, deletion.id);
    onChange(now);
  });
  useEffect(() => {
    if (deletion.state !== "running") return;
    const timer = setTimeout(() => void refresh.run(), POLL_MS);
    return () => clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [deletion.updated_at, deletion.state, refresh.problem]);
  return (
    <div class="deletion" data-deletion={deletion.id}>
      <p role="status" aria-live="polite">
        <progress max={1} value={progressShare(deletion)} aria-label="Deletion progress" /> {progressText(deletion)}
      </p>
      {deletion.state === "running" ? (
        <div class="actions">
          <Button class="secondary" busy={refresh.busy} busyText="Reading…" onClick={() => void refresh.run()}>
            Check progress
          </Button>
          <Button busy={busy} busyText="Continuing…" onClick={onContinue}>
            Continue now
          </Button>
        </div>
      ) : null}
      <ActionState action={refresh} />
    </div>
  );
}
