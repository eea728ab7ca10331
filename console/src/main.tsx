// The console's shell: sign-in until there is an operator token (in memory only), then the
// navigation of the registered pages (`pages/registry.ts`) around the page the address names.

import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { appNotVerified, can, tenantScope, type Me } from "./access";
import { admin, clearToken, onSignedOut, setToken } from "./api";
import { AcceptPage } from "./pages/accept";
import { HomePage } from "./pages/home";
import { pagePath, pages, resolvePage, type Resolved } from "./pages/registry";
import { ResetPage } from "./pages/reset";
import { SignInPage } from "./pages/signin";
import { SignUpPage } from "./pages/signup";
import { VerifyEmailPage } from "./pages/verify";
import { hashOf, useRoute, type Route } from "./router";
import { SessionContext, useSession, type Session } from "./session";
import { ActionState, Button, useAction } from "./ui";
import "./styles.css";

// An emailed link arrives as `/console/?type=operator_password_reset&token=…` (or
// `operator_email_verification`): keep the token in memory and take it out of the address bar
// (and so out of history) before rendering.
const linkQuery = new URLSearchParams(location.search);
const linkToken = (type: string) => (linkQuery.get("type") === type ? linkQuery.get("token") : null);
const resetToken = linkToken("operator_password_reset");
const verifyToken = linkToken("operator_email_verification");
if (location.search) history.replaceState(null, "", location.pathname + location.hash);

function Console() {
  const route = useRoute();
  const [me, setMe] = useState<Me | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [reset, setReset] = useState(resetToken);
  const [verify, setVerify] = useState(verifyToken);
  useEffect(
    () =>
      onSignedOut((reason) => {
        setMe(null);
        setNotice(`You have been signed out (${reason}). Sign in again to continue.`);
      }),
    [],
  );
  if (reset) return <ResetPage token={reset} onDone={() => setReset(null)} />;
  if (verify) return <VerifyEmailPage token={verify} onDone={() => setVerify(null)} />;
  if (route.segments[0] === "accept") return <AcceptPage token={route.query.get("token") ?? ""} />;
  if (!me) {
    const onSignedIn = async (token: string) => {
      setToken(token);
      try {
        setMe(await admin.me());
        setNotice(null);
      } catch (e) {
        clearToken();
        throw e;
      }
    };
    if (route.segments[0] === "signup") return <SignUpPage onSignedIn={onSignedIn} />;
    return <SignInPage notice={notice} onSignedIn={onSignedIn} />;
  }
  const session: Session = {
    me,
    refresh: async () => setMe(await admin.me()),
    signOut: () => {
      clearToken();
      setMe(null);
      setNotice("You have signed out.");
    },
  };
  return (
    <SessionContext.Provider value={session}>
      <Shell route={route} />
    </SessionContext.Provider>
  );
}

function Shell({ route }: { route: Route }) {
  const { me, signOut } = useSession();
  const home = route.segments.length === 0;
  const resolved = home ? null : resolvePage(route.segments);
  const app = resolved?.app ?? null;
  const tenant = resolved?.tenant ?? (app ? tenantScope(me, app) : null);
  const mainRef = useRef<HTMLElement>(null);
  // A new page: move the focus to its heading, so keyboard and screen-reader users start there.
  const where = route.segments.join("/");
  useEffect(() => {
    const heading = mainRef.current?.querySelector<HTMLElement>("h1");
    (heading ?? mainRef.current)?.focus();
  }, [where]);
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), mainRef.current?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={hashOf([])}>
          Tessera console
        </a>
        <nav aria-label="Breadcrumb" class="crumbs">
          <a href={hashOf([])}>Apps</a>
          {app ? (
            <>
              {" › "}
              <a href={hashOf(["apps", app])}>{app}</a>
            </>
          ) : null}
          {app && tenant ? (
            <>
              {" › "}
              <a href={hashOf(["apps", app, "tenants", tenant])}>{tenant}</a>
            </>
          ) : null}
        </nav>
        <div class="who">
          <span title={me.operator.id}>
            {me.operator.email}
            {me.operator.is_platform_owner ? " (platform owner)" : ""}
          </span>
          <button type="button" class="secondary" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <div class="layout">
        {app ? <SideNav app={app} tenant={tenant} current={resolved} /> : null}
        <main id="main" ref={mainRef} tabIndex={-1}>
          {app && appNotVerified(me, app) ? <PendingApp app={app} /> : null}
          {home ? (
            <HomePage />
          ) : resolved ? (
            resolved.page.scope === "tenant" && !resolved.tenant ? null : (
              <resolved.page.component
                key={`${resolved.page.id}:${resolved.app}:${resolved.tenant ?? ""}`}
                app={resolved.app}
                tenant={resolved.tenant ?? ""}
                rest={resolved.rest}
                query={route.query}
              />
            )
          ) : (
            <NotFound />
          )}
        </main>
      </div>
    </>
  );
}

/** The registered pages of the app and tenant shown; those the roles do not allow are disabled. */
function SideNav({ app, tenant, current }: { app: string; tenant: string | null; current: Resolved | null }) {
  const { me } = useSession();
  const pending = appNotVerified(me, app);
  const item = (page: (typeof pages)[number]) => {
    const where = page.scope === "tenant" ? tenant : undefined;
    const allowed = can(me, page.requires, app, where);
    // While the app waits for its owner's email, the roles are not what holds a page back.
    const why = pending ? "Only the settings until the owner's email is verified" : `Needs the permission ${page.requires}`;
    const active = current?.page.id === page.id && current.app === app && (page.scope === "app" || current.tenant === tenant);
    return (
      <li key={page.id}>
        {allowed ? (
          <a href={hashOf(pagePath(page, app, tenant))} aria-current={active ? "page" : undefined}>
            {page.label}
          </a>
        ) : (
          <span class="disabled" aria-disabled="true" title={why}>
            {page.label}
            <span class="visually-hidden"> ({pending ? why : `needs ${page.requires}`})</span>
          </span>
        )}
      </li>
    );
  };
  return (
    <nav class="side" aria-label="Sections">
      <h2 class="nav-title">App {app}</h2>
      <ul>{pages.filter((p) => p.scope === "app").map(item)}</ul>
      <h2 class="nav-title">{tenant ? `Tenant ${tenant}` : "Tenant"}</h2>
      {tenant ? <ul>{pages.filter((p) => p.scope === "tenant").map(item)}</ul> : <p class="hint">Open a tenant to manage its users and keys.</p>}
    </nav>
  );
}

/** The app waits for its owner's email: only its settings work until then (the API answers the rest `403 app_not_verified`). */
function PendingApp({ app }: { app: string }) {
  const action = useAction(async () => {
    await admin.sendVerification();
    return "A new verification link is on its way to your email.";
  });
  return (
    <div class="notice" role="region" aria-label="Email verification">
      <p>
        <strong>{app} waits for its owner's email to be verified.</strong> Until then it offers its settings only (tenants, login
        methods, links, email delivery); everything else answers <code>app_not_verified</code>.
      </p>
      <Button class="secondary" busy={action.busy} busyText="Sending…" onClick={() => void action.run()}>
        Send the verification link again
      </Button>
      <ActionState action={action} />
    </div>
  );
}

function NotFound() {
  return (
    <>
      <h1 tabIndex={-1}>No such page</h1>
      <p>
        <a href={hashOf([])}>Back to the apps</a>
      </p>
    </>
  );
}

render(<Console />, document.getElementById("app")!);
