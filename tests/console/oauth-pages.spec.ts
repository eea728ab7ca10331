// A tenant's authorization pages in a real browser (Playwright driving Debian's Chromium), as a
// native app's user meets them (RFC 8252): the app opens the authorization URL of a public
// client whose redirect URI is a loopback one; the user types an email and a password into
// the real sign-in page, clicks "Sign in", reads the consent page (the client named as the
// client chose — escaped — and the scopes), clicks "Allow"; the browser lands on the app's
// loopback server with `code`, `state` and `iss`, and the app exchanges the code for tokens.
// On the way: the pages' Content-Security-Policy blocks nothing they need (no violation
// report, no console error), their cookies are HttpOnly, Secure and SameSite=Lax, scoped to
// the tenant's /oauth path (and invisible to scripts), and a consent form posted without its
// CSRF field is refused with 403 and no redirect.
//
// Everything listens on 127.0.0.1 only: the worker (Miniflare), a front server of this file in
// front of it, and the app's loopback server. The issuer's origin must be the origin the
// browser uses (the worker names every URL after ISSUER_ORIGIN, never after the request's
// Host), and a worker's port is only known once it listens: so the front server is started
// first, on a port of its own, ISSUER_ORIGIN is set to its origin, and it forwards every
// request as it is to the worker. Chromium treats http://127.0.0.1 as potentially trustworthy
// (a secure context), so it keeps and sends the pages' Secure cookies there.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type BrowserContext, type Page, type Response as PwResponse } from "playwright-core";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createHash, randomBytes } from "node:crypto";
import { ROOT_TOKEN, startWorker, type TestWorker } from "../e2e/harness";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const PASSWORD = "correct horse battery";
const USER = "pages-user@example.com";
const APP = "public";
const TENANT = "pages";
const B = `/apps/${APP}/tenants/${TENANT}`;
/** A name the consent page must show as text, not markup. */
const CLIENT_NAME = `Inspector <b>bold</b> & "co"`;
const SCOPES = { "mcp:tools": "Use your tools", "files:read": "Read your files" };

let worker: TestWorker;
let front: http.Server;
let app: http.Server;
/** The browser's origin: the front server's, and so the issuer's. */
let ORIGIN = "";
let ISSUER = "";
let REDIRECT = "";
let browser: Browser;
let context: BrowserContext;
let page: Page;
let clientId = "";

/** Every request to the app's loopback redirect URI (path and query); its favicon is not one. */
const callbacks: URL[] = [];
/** CSP violations reported by the pages (securitypolicyviolation events). */
const violations: string[] = [];
/** Console errors and page errors, with the page's URL. */
const consoleErrors: string[] = [];

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function close(server: http.Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** The worker's API, straight to the worker. */
async function api(method: string, p: string, body?: unknown, token?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(new URL(p, worker.url), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, text };
}

async function must(what: string, call: Promise<{ status: number; body: any; text: string }>, ...statuses: number[]) {
  const res = await call;
  if (!statuses.includes(res.status)) throw new Error(`${what}: ${res.status} ${res.text}`);
  return res.body;
}

const b64url = (bytes: Buffer) => bytes.toString("base64url");

/** A fresh authorization request of the client: its URL, state and PKCE verifier. */
function authorizationRequest() {
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(16));
  const url = new URL(`${ISSUER}/oauth/authorize`);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: "mcp:tools files:read",
    state,
    code_challenge: b64url(createHash("sha256").update(verifier).digest()),
    code_challenge_method: "S256",
  }).toString();
  return { url, state, verifier };
}

async function heading(): Promise<string> {
  return (await page.locator("main h1").first().innerText()).trim();
}

/** Clicks `name` and waits for the document the click navigates to. */
async function clickAndNavigate(name: string): Promise<PwResponse> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().isNavigationRequest() && r.request().method() === "POST"),
    page.getByRole("button", { name, exact: true }).click(),
  ]);
  await page.waitForLoadState("domcontentloaded");
  return response;
}

beforeAll(async () => {
  // The app's loopback server: records what comes back, answers a plain page.
  app = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname !== "/callback") {
      // The browser's favicon request: nothing, and no error in the console either.
      res.writeHead(204).end();
      return;
    }
    callbacks.push(url);
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>Done</title><p>You can close this window.</p>");
  });
  REDIRECT = `${await listen(app)}/callback`;

  // The front server: the browser's origin, forwarding each request unchanged to the worker.
  front = http.createServer((req, res) => {
    const upstream = http.request(
      { host: worker.url.hostname, port: worker.url.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        answer.pipe(res);
      },
    );
    upstream.on("error", (e) => {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(String(e));
    });
    req.pipe(upstream);
  });
  ORIGIN = await listen(front);
  ISSUER = `${ORIGIN}${B}`;
  worker = await startWorker({ bindings: { ISSUER_ORIGIN: ORIGIN } });

  // The tenant, its OAuth settings, a public client with a loopback redirect, an end user.
  await must("bootstrap", api("POST", "/admin/bootstrap", { email: "owner@example.com", password: PASSWORD }, ROOT_TOKEN), 201);
  const token = (await must("signin", api("POST", "/admin/auth/signin", { email: "owner@example.com", password: PASSWORD }), 200)).access_token;
  await must("tenant", api("PUT", `/admin/apps/${APP}/tenants/${TENANT}`, { login_methods: ["emailpassword"] }, token), 200, 201);
  const settings = { registration: "off", client_id_metadata_documents: false, scopes: SCOPES, access_token_ttl_seconds: 600 };
  await must("oauth settings", api("PUT", `/admin/apps/${APP}/tenants/${TENANT}/oauth`, settings, token), 200);
  const made = await must("client", api("POST", `/admin/apps/${APP}/tenants/${TENANT}/clients`, {
    name: CLIENT_NAME, type: "public", redirect_uris: [REDIRECT], scopes: ["mcp:tools", "files:read"],
  }, token), 201);
  clientId = made.client.client_id;
  await must("signup", api("POST", `${B}/auth/signup`, { email: USER, password: PASSWORD }), 201);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"],
  });
  context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  // Every CSP violation of any page, reported to the test (an init script and a binding are
  // the browser's, not the page's: the page's policy does not apply to them).
  await context.exposeBinding("reportViolation", (source, text: string) => violations.push(`${source.page.url()}: ${text}`));
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      (window as any).reportViolation(`${e.violatedDirective} blocked ${e.blockedURI} (${e.disposition})`);
    });
  });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`${page.url()}: page error: ${e.message}`));
});

afterAll(async () => {
  await context?.close().catch(() => {});
  await browser?.close();
  await worker?.dispose();
  await close(front);
  await close(app);
});

describe("a tenant's authorization pages in Chromium", () => {
  let flow: ReturnType<typeof authorizationRequest>;

  it("show the sign-in page at the issuer's origin, under a strict policy", async () => {
    flow = authorizationRequest();
    expect(new URL(ISSUER).origin).toBe(ORIGIN);
    const response = await page.goto(flow.url.href);
    expect(response?.status()).toBe(200);
    const csp = (await response!.allHeaders())["content-security-policy"] ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain(`form-action 'self' ${ORIGIN} ${new URL(REDIRECT).origin}`);
    expect(await heading()).toBe("Sign in");
    expect(await page.locator("main").innerText()).toContain(`to continue to ${CLIENT_NAME}`);
    // The stylesheet (allowed by its hash) applied: the page is styled, nothing was refused.
    expect(await page.evaluate(() => getComputedStyle(document.querySelector("main")!).maxWidth)).not.toBe("none");
  });

  it("set its cookies HttpOnly, Secure and SameSite=Lax on the tenant's /oauth path", async () => {
    const csrf = (await context.cookies()).find((c) => c.name === "tessera_oauth_csrf");
    expect(csrf).toMatchObject({ domain: "127.0.0.1", path: `${B}/oauth`, httpOnly: true, secure: true, sameSite: "Lax" });
    expect(await page.evaluate(() => document.cookie)).toBe("");
  });

  it("sign the user in with what the user types, and ask consent naming the client and the scopes", async () => {
    await page.getByLabel("Email", { exact: true }).fill(USER);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    const answer = await clickAndNavigate("Sign in");
    // 303 back to the authorization request (followed by the browser), then the consent page.
    expect(answer.status()).toBe(303);
    await expect.poll(() => heading()).toBe(`Allow ${CLIENT_NAME}?`);
    expect(page.url()).toBe(flow.url.href);
    // The client's name is text: no element of the page came from it.
    expect(await page.locator("main b").count()).toBe(0);
    const text = await page.locator("main").innerText();
    expect(text).toContain(`${CLIENT_NAME} wants to use your account ${USER}`);
    expect(text).toContain(`You will be sent back to ${new URL(REDIRECT).host}`);
    const items = (await page.locator("main li").allInnerTexts()).map((t) => t.trim());
    expect(items).toEqual(["Use your tools (mcp:tools)", "Read your files (files:read)"]);
    const session = (await context.cookies()).find((c) => c.name === "tessera_oauth_session");
    expect(session).toMatchObject({ domain: "127.0.0.1", path: `${B}/oauth`, httpOnly: true, secure: true, sameSite: "Lax" });
    expect(session!.expires).toBeGreaterThan(Date.now() / 1000);
    // Both cookies stay on the /oauth path: not sent to the tenant's other routes.
    expect((await context.cookies(`${ISSUER}/auth/me`)).map((c) => c.name)).toEqual([]);
    expect((await context.cookies(`${ISSUER}/oauth/authorize`)).map((c) => c.name).sort()).toEqual(["tessera_oauth_csrf", "tessera_oauth_session"]);
  });

  it("refuse the consent form posted without its CSRF field: 403, no redirect", async () => {
    await page.evaluate(() => document.querySelector('input[name="csrf"]')!.remove());
    const answer = await clickAndNavigate("Allow");
    expect(answer.status()).toBe(403);
    expect(answer.headers()["location"]).toBeUndefined();
    expect(await heading()).toBe("This request cannot continue");
    expect(new URL(page.url()).origin).toBe(ORIGIN);
    expect(callbacks).toEqual([]);
    // The browser's own console reports the 403 document; nothing else went wrong.
    const refusedLoad = consoleErrors.filter((e) => /status of 403/.test(e));
    expect(consoleErrors.filter((e) => !refusedLoad.includes(e))).toEqual([]);
    consoleErrors.length = 0;
  });

  it("send the browser back to the app's loopback server with code, state and iss when the user allows", async () => {
    // The same request again: the user is still signed in (the session cookie), so straight to consent.
    await page.goto(flow.url.href);
    expect(await heading()).toBe(`Allow ${CLIENT_NAME}?`);
    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(REDIRECT)),
      page.getByRole("button", { name: "Allow", exact: true }).click(),
    ]);
    await expect.poll(() => callbacks.length).toBe(1);
    const back = callbacks[0]!;
    expect(back.pathname).toBe("/callback");
    expect(back.searchParams.get("state")).toBe(flow.state);
    expect(back.searchParams.get("iss")).toBe(ISSUER);
    expect(back.searchParams.get("code")).toBeTruthy();
    expect(back.searchParams.get("error")).toBeNull();
    expect(page.url()).toBe(`${REDIRECT}${back.search}`);
  });

  it("give the app tokens for the code", async () => {
    const code = callbacks[0]!.searchParams.get("code")!;
    const res = await fetch(`${ISSUER}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: flow.verifier, client_id: clientId }),
    });
    const body: any = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ token_type: "Bearer", scope: "mcp:tools files:read", expires_in: 600 });
    expect(body.refresh_token).toBeTruthy();
    const claims = JSON.parse(Buffer.from(body.access_token.split(".")[1], "base64url").toString());
    expect(claims).toMatchObject({ iss: ISSUER, aud: ISSUER, client_id: clientId, scope: "mcp:tools files:read" });
  });

  it("blocked nothing the pages needed: no policy violation, no console error", async () => {
    // A violation provoked on purpose on a page of the issuer (an image, which default-src
    // 'none' refuses): reports arrive asynchronously (a redirect refused by form-action is
    // reported after the navigation failed), so once this one is in, the earlier ones are
    // too — and it shows the listeners work.
    await context.clearCookies();
    const signIn = await page.goto(authorizationRequest().url.href);
    expect(signIn?.status()).toBe(200);
    await page.evaluate(() => {
      const img = document.createElement("img");
      img.src = "/csp-sentinel.png";
      document.body.append(img);
    });
    await expect.poll(() => violations.some((v) => v.includes("csp-sentinel"))).toBe(true);
    await expect.poll(() => consoleErrors.some((e) => e.includes("csp-sentinel"))).toBe(true);
    expect(violations.filter((v) => !v.includes("csp-sentinel"))).toEqual([]);
    expect(consoleErrors.filter((e) => !e.includes("csp-sentinel"))).toEqual([]);
  });
});
