// The few building blocks every page uses, so each action has the same progress and error
// states: a button that says what it is doing and cannot be pressed twice, the API's problem
// detail in an alert, lists with loading, error and retry, keyset pagers, secrets shown once.

import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { needs, type Permission } from "./access";
import { describe, problemFrom, type Problem } from "./problem";
import { back, cursorOf, firstPage, forward, hasNext, hasPrevious, loaded, pageNumber, type Pager } from "./paging";
import type { PageOf } from "./api";

// ---------------------------------------------------------------- actions and loads

export interface Action<A extends unknown[]> {
  run: (...args: A) => Promise<boolean>;
  busy: boolean;
  problem: Problem | null;
  /** A short confirmation of the last success (role=status). */
  done: string | null;
  reset: () => void;
}

/** Runs `fn` with progress and error state; `success` says what happened. */
export function useAction<A extends unknown[]>(
  fn: (...args: A) => Promise<string | void>,
): Action<A> {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const running = useRef(false);
  const alive = useRef(true);
  useEffect(() => () => void (alive.current = false), []);
  const run = useCallback(
    async (...args: A) => {
      if (running.current) return false;
      running.current = true;
      setBusy(true);
      setProblem(null);
      setDone(null);
      try {
        const message = await fn(...args);
        if (alive.current) setDone(message || null);
        return true;
      } catch (e) {
        if (alive.current) setProblem(problemFrom(e));
        return false;
      } finally {
        running.current = false;
        if (alive.current) setBusy(false);
      }
    },
    [fn],
  );
  const reset = useCallback(() => {
    setProblem(null);
    setDone(null);
  }, []);
  return { run, busy, problem, done, reset };
}

export interface Load<T> {
  data: T | null;
  problem: Problem | null;
  loading: boolean;
  reload: () => void;
  set: (data: T) => void;
}

/** Loads `fn()` now and whenever `deps` change; `reload` loads again. */
export function useLoad<T>(fn: () => Promise<T>, deps: readonly unknown[]): Load<T> {
  const [data, setData] = useState<T | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let current = true;
    setLoading(true);
    setProblem(null);
    fn().then(
      (d) => {
        if (!current) return;
        setData(d);
        setLoading(false);
      },
      (e) => {
        if (!current) return;
        setProblem(problemFrom(e));
        setData(null);
        setLoading(false);
      },
    );
    return () => void (current = false);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { data, problem, loading, reload: () => setTick((t) => t + 1), set: setData };
}

export interface PagedList<T> extends Load<PageOf<T>> {
  pager: Pager;
  next: () => void;
  previous: () => void;
}

/**
 * One page of a keyset-paged listing at a time. Filters are the caller's: give the component
 * that uses this a `key` made of them, so a new filter starts again at the first page.
 */
export function usePaged<T>(fetchPage: (cursor: string | null) => Promise<PageOf<T>>): PagedList<T> {
  const [pager, setPager] = useState<Pager>(firstPage);
  const cursor = cursorOf(pager);
  const number = pageNumber(pager);
  const load = useLoad(async () => {
    const page = await fetchPage(cursor);
    // Only if the pager still stands where this page was asked for.
    setPager((p) => (pageNumber(p) === number && cursorOf(p) === cursor ? loaded(p, page.next_cursor) : p));
    return page;
  }, [cursor, number]);
  return {
    ...load,
    pager,
    next: () => setPager((p) => forward(p)),
    previous: () => setPager((p) => back(p)),
  };
}

// ---------------------------------------------------------------- feedback

/** The API's problem, as an alert. */
export function ErrorNote({ problem, prefix }: { problem: Problem | null; prefix?: string }) {
  if (!problem) return null;
  return (
    <p class="error" role="alert">
      {prefix ? <strong>{prefix} </strong> : null}
      {describe(problem)} <code class="code">{problem.code}</code>
    </p>
  );
}

/** A confirmation of what just happened. */
export function DoneNote({ text }: { text: string | null }) {
  return text ? (
    <p class="done" role="status">
      {text}
    </p>
  ) : null;
}

/** Progress and outcome of an action, under its form. */
export function ActionState<A extends unknown[]>({ action }: { action: Action<A> }) {
  return (
    <>
      <ErrorNote problem={action.problem} />
      <DoneNote text={action.done} />
    </>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

/** Loading, or the problem with a retry, or nothing once there is data. */
export function LoadState<T>({ load, what }: { load: Load<T>; what: string }) {
  if (load.loading && !load.data) return <Loading what={what} />;
  if (load.problem)
    return (
      <div class="load-error">
        <ErrorNote problem={load.problem} prefix={`Could not load ${what}.`} />
        <button type="button" class="secondary" onClick={load.reload}>
          Retry
        </button>
      </div>
    );
  return null;
}

// ---------------------------------------------------------------- controls

interface ButtonProps {
  type?: "button" | "submit";
  class?: string;
  onClick?: () => void;
  busy?: boolean;
  /** The text while busy ("Saving…"). */
  busyText?: string;
  /** Set when the caller lacks this permission: the button is disabled and says why. */
  lacks?: Permission | null;
  disabled?: boolean;
  children: ComponentChildren;
}

/** A button with a progress state and, when not allowed, a reason it is disabled. */
export function Button({ busy, busyText, lacks, disabled, children, class: cls, type, onClick }: ButtonProps) {
  const why = lacks ? needs(lacks) : undefined;
  return (
    <button
      type={type ?? "button"}
      class={cls}
      onClick={onClick}
      disabled={disabled || busy || !!lacks}
      aria-busy={busy ? "true" : undefined}
      title={why}
    >
      {busy ? (busyText ?? "Working…") : children}
      {why ? <span class="visually-hidden"> ({why})</span> : null}
    </button>
  );
}

/** A destructive action in two steps: the first press asks, the second does it. */
export function ConfirmButton({
  label,
  confirm,
  busy,
  lacks,
  onConfirm,
}: {
  label: string;
  confirm: string;
  busy: boolean;
  lacks?: Permission | null;
  onConfirm: () => void;
}) {
  const [asking, setAsking] = useState(false);
  const confirmRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirmRef.current?.focus();
  }, [asking]);
  if (!asking || busy)
    return (
      <Button class="danger" busy={busy} busyText="Working…" lacks={lacks ?? null} onClick={() => setAsking(true)}>
        {label}
      </Button>
    );
  return (
    <span class="confirm">
      <button
        ref={confirmRef}
        type="button"
        class="danger"
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirm}
      </button>
      <button type="button" class="secondary" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

/** A listed item's "Change" and two-step "Delete", with the deletion's outcome under them. */
export function ChangeOrDelete({
  name,
  lacks,
  onChange,
  remove,
}: {
  name: string;
  lacks: Permission | null;
  onChange: () => void;
  remove: Action<[]>;
}) {
  return (
    <>
      <div class="actions">
        <Button class="secondary" lacks={lacks} onClick={onChange}>
          Change
        </Button>
        <ConfirmButton label="Delete" confirm={`Yes, delete ${name}`} busy={remove.busy} lacks={lacks} onConfirm={() => void remove.run()} />
      </div>
      <ActionState action={remove} />
    </>
  );
}

/**
 * A form that runs `action` when submitted (never a browser submission: the CSP forbids any),
 * with its submit button and, under it, the action's progress and outcome. Where the caller
 * lacks the permission, `lacks` disables the button and says why, or `denied` replaces it with
 * a note.
 */
export function ActionForm({
  action,
  submit,
  busyText,
  inline,
  label,
  danger,
  lacks,
  denied,
  children,
}: {
  action: Action<[]>;
  submit: string;
  busyText: string;
  inline?: boolean;
  label?: string;
  danger?: boolean;
  lacks?: Permission | null;
  denied?: { permission: Permission; what: string } | null;
  children: ComponentChildren;
}) {
  return (
    <form
      class={inline ? "form inline" : "form"}
      aria-label={label}
      onSubmit={(e) => {
        e.preventDefault();
        void action.run();
      }}
    >
      {children}
      {denied ? (
        <NotAllowed permission={denied.permission} what={denied.what} />
      ) : (
        <Button type="submit" class={danger ? "danger" : undefined} busy={action.busy} busyText={busyText} lacks={lacks ?? null}>
          {submit}
        </Button>
      )}
      <ActionState action={action} />
    </form>
  );
}

/** A labelled input; the hint follows the label (so the input's name stays short). */
export function Field({
  label,
  hint,
  children,
}: {
  label: string;
  hint?: string;
  children: ComponentChildren;
}) {
  return (
    <div class="field">
      <label>
        <span class="label">{label}</span>
        {children}
      </label>
      {hint ? <span class="hint">{hint}</span> : null}
    </div>
  );
}

/** A new password's input, with the API's bounds (8 to 128 characters). */
export function NewPassword({
  value,
  onInput,
  name,
  required = true,
}: {
  value: string;
  onInput: (value: string) => void;
  name?: string;
  required?: boolean;
}) {
  return (
    <input
      type="password"
      name={name}
      required={required}
      minLength={8}
      maxLength={128}
      autoComplete="new-password"
      value={value}
      onInput={(e) => onInput(e.currentTarget.value)}
    />
  );
}

/** A set of checkboxes over `options`. */
export function Checkboxes({
  legend,
  options,
  value,
  onChange,
  disabled,
}: {
  legend: string;
  options: readonly { value: string; label?: string; disabled?: boolean; title?: string }[];
  value: readonly string[];
  onChange: (next: string[]) => void;
  disabled?: boolean;
}) {
  return (
    <fieldset class="checks" disabled={disabled}>
      <legend>{legend}</legend>
      {options.map((o) => (
        <label key={o.value} class="check" title={o.title}>
          <input
            type="checkbox"
            checked={value.includes(o.value)}
            disabled={o.disabled}
            onChange={(e) => {
              const on = (e.currentTarget as HTMLInputElement).checked;
              onChange(on ? [...value, o.value] : value.filter((v) => v !== o.value));
            }}
          />{" "}
          {o.label ?? o.value}
        </label>
      ))}
    </fieldset>
  );
}

/** Previous / next over a keyset-paged list. */
export function PagerControls<T>({ list, label }: { list: PagedList<T>; label: string }) {
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <button type="button" class="secondary" disabled={!hasPrevious(list.pager) || list.loading} onClick={list.previous}>
        ← Previous
      </button>
      <span aria-live="polite">
        Page {pageNumber(list.pager)}
        {list.loading ? " (loading…)" : ""}
      </span>
      <button type="button" class="secondary" disabled={!hasNext(list.pager) || list.loading} onClick={list.next}>
        Next →
      </button>
    </nav>
  );
}

/** A secret the API shows once: shown here once, with a copy button, until dismissed. */
export function OnceSecret({
  title,
  values,
  onDismiss,
}: {
  title: string;
  values: readonly { label: string; value: string }[];
  onDismiss: () => void;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const [copied, setCopied] = useState<string | null>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <div class="once" role="region" aria-label={title} tabIndex={-1} ref={ref}>
      <h3>{title}</h3>
      <p>Copy it now: it is shown this once and never again.</p>
      {values.map((v) => (
        <div class="secret-row" key={v.label}>
          <span class="label">{v.label}</span>
          <code class="secret" data-secret={v.label}>
            {v.value}
          </code>
          <button
            type="button"
            class="secondary"
            onClick={() =>
              navigator.clipboard?.writeText(v.value).then(
                () => setCopied(v.label),
                () => setCopied(null),
              )
            }
          >
            {copied === v.label ? "Copied" : "Copy"}
          </button>
        </div>
      ))}
      <button type="button" onClick={onDismiss}>
        Done, hide it
      </button>
    </div>
  );
}

/** A table that becomes a list of cards on a narrow screen (each cell labelled). */
export function Table({ caption, columns, children }: { caption: string; columns: string[]; children: ComponentChildren }) {
  return (
    <table class="table">
      <caption class="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          {columns.map((c) => (
            <th scope="col" key={c}>
              {c}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}

/** A cell with its column's name, for the narrow layout (its content kept in one box beside it). */
export function Cell({ label, children }: { label: string; children?: ComponentChildren }) {
  return (
    <td data-label={label}>
      <div class="cell">{children}</div>
    </td>
  );
}

export function Empty({ text, colSpan }: { text: string; colSpan: number }) {
  return (
    <tr>
      <td colSpan={colSpan} class="muted">
        {text}
      </td>
    </tr>
  );
}

/** A time as the operator's locale writes it, with the exact value on hover. */
export function Time({ at }: { at: string | null }) {
  if (!at) return <span class="muted">—</span>;
  const d = new Date(at);
  return (
    <time dateTime={at} title={at}>
      {Number.isNaN(d.getTime()) ? at : d.toLocaleString()}
    </time>
  );
}

/** A section of a page with a heading. */
export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section class="card" aria-labelledby={id ? `${id}-title` : undefined}>
      <h2 id={id ? `${id}-title` : undefined}>{title}</h2>
      {children}
    </section>
  );
}

/** A note that something is not offered to this operator, and why. */
export function NotAllowed({ permission, what }: { permission: Permission; what: string }) {
  return (
    <p class="muted not-allowed">
      {what} needs the permission <code>{permission}</code>, which your roles here do not include.
    </p>
  );
}
