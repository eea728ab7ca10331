// The operators' console in a real browser (Playwright driving Debian's Chromium) against the
// test build under Miniflare on 127.0.0.1, with the console's assets served as wrangler.toml
// serves them. One story, in order: the owner signs in, creates a tenant, lists a redirect URI
// and a provider (whose secret never comes back), creates an API key, sets the tenant's OAuth
// settings, registers an OAuth client (its secret shown once), disables, enables and deletes
// it and approves one that registered itself, suspends an end user (its token stops
// introspecting), erases another and deletes an app, invites a support operator who accepts,
// defines a custom operator role and relabels the membership, reads the audit log, revokes
// the key; the support operator finds no way to create a key, and the API refuses it. Then the user list pages through many users, and every main page fits 390 px.
// `CONSOLE_SCREENSHOTS=1` also writes docs/console/*.png.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT_TOKEN, startWorker, type TestWorker } from "../e2e/harness";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = process.env.CONSOLE_SCREENSHOTS ? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../docs/console") : null;
/** End users seeded into the tenant `big` for the paging step (set 100000 to try that size). */
const SEEDED_USERS = Number(process.env.TESSERA_CONSOLE_USERS ?? 1000);
const PASSWORD = "correct horse battery";
const OWNER = "owner@example.com";
const SUPPORT = "support@example.com";

let worker: TestWorker;
let browser: Browser;
let owner: Page;
const contexts: BrowserContext[] = [];
/** What no page may do: break the Content-Security-Policy, or throw. */
const violations: string[] = [];

// ---------------------------------------------------------------- helpers

async function newPage(width = 1280, height = 900): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height }, baseURL: worker.url.toString() });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("console", (m) => {
    if (/Content Security Policy|Trusted Type|Refused to/i.test(m.text())) violations.push(m.text());
  });
  page.on("pageerror", (e) => violations.push(`page error: ${e.message}`));
  return page;
}

/** Moves within the single-page app (a fragment change: the in-memory token survives). */
async function go(page: Page, hash: string): Promise<void> {
  await page.evaluate((h) => {
    location.hash = h;
  }, hash);
}

async function heading(page: Page): Promise<string> {
  return (await page.locator("main h1").first().innerText()).trim();
}

async function signIn(page: Page, email: string): Promise<void> {
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect.poll(() => heading(page)).toBe("Apps");
}

async function api(method: string, p: string, body?: unknown, token?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(new URL(p, worker.url), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function introspect(key: string, token: string) {
  const res = await fetch(new URL("/apps/public/tenants/acme/oauth/introspect", worker.url), {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/x-www-form-urlencoded" },
    body: `token=${encodeURIComponent(token)}`,
  });
  return { status: res.status, body: await res.json() };
}

/** A form POST to the tenant acme's token endpoint. */
async function oauthToken(fields: Record<string, string>, headers: Record<string, string>) {
  const res = await fetch(new URL("/apps/public/tenants/acme/oauth/token", worker.url), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.status, body: await res.json() };
}

async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  const size = page.viewportSize();
  await page.screenshot({ path: path.join(SHOTS, `${name}-${size?.width ?? 0}.png`), fullPage: true });
}

/** The page fits a 390 px screen (nothing scrolls sideways), and its screenshots at both widths. */
async function narrowAndShoot(page: Page, name: string): Promise<void> {
  await shot(page, name);
  await page.setViewportSize({ width: 390, height: 844 });
  const widths = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  expect(widths[0], `${name} scrolls sideways at 390 px`).toBeLessThanOrEqual(widths[1]!);
  await shot(page, name);
  await page.setViewportSize({ width: 1280, height: 900 });
}

// ---------------------------------------------------------------- the story

let apiKey = "";
let aliceToken = "";
let inviteLink = "";

beforeAll(async () => {
  // Sign-up open, so the story can show an app waiting for its owner's email.
  worker = await startWorker({ console: true, bindings: { OPERATOR_SIGNUP: "open" } });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"],
  });
  const boot = await api("POST", "/admin/bootstrap", { email: OWNER, password: PASSWORD }, ROOT_TOKEN);
  expect(boot.status).toBe(201);
  owner = await newPage();
});

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await worker?.dispose();
});

describe("the operators' console", () => {
  it("is one page with strict security headers, and its assets are cached for good", async () => {
    const redirect = await fetch(new URL("/console", worker.url), { redirect: "manual" });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get("location")).toBe("/console/");

    const page = await fetch(new URL("/console/", worker.url));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    expect(page.headers.get("cache-control")).toBe("no-store");
    expect(page.headers.get("strict-transport-security")).toBe("max-age=31536000; includeSubDomains");
    const html = await page.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/\sstyle=/); // no inline style
    expect(html).not.toMatch(/https?:\/\//); // no other origin

    const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const asset = await fetch(new URL(script, worker.url));
    expect(asset.status).toBe(200);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(asset.headers.get("content-security-policy")).toBe(csp);
    const etag = asset.headers.get("etag");
    if (etag) {
      const again = await fetch(new URL(script, worker.url), { headers: { "if-none-match": etag } });
      expect(again.status).toBe(304);
    }

    const missing = await fetch(new URL("/console/assets/nope.js", worker.url));
    expect(missing.status).toBe(404);
    expect((await missing.json()).code).toBe("not_found");
    expect((await fetch(new URL("/console/", worker.url), { method: "POST" })).status).toBe(405);
  });

  it("signs an operator in with the keyboard alone and keeps the token out of every storage", async () => {
    await owner.goto("/console/");
    await expect.poll(() => heading(owner)).toBe("Sign in to the Tessera console");
    await narrowAndShoot(owner, "signin");
    await owner.keyboard.press("Tab");
    expect(await owner.evaluate(() => (document.activeElement as HTMLInputElement).name)).toBe("email");
    await owner.keyboard.type(OWNER);
    await owner.keyboard.press("Tab");
    await owner.keyboard.type("wrong horse battery");
    await owner.keyboard.press("Enter");
    // The API's problem detail, shown as it is.
    await expect.poll(() => owner.getByRole("alert").innerText()).toContain("Invalid email or password.");
    await owner.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await owner.keyboard.press("Enter");
    await expect.poll(() => heading(owner)).toBe("Apps");
    const stored = await owner.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]);
    expect(stored).toEqual([0, 0, ""]);
    // The device cookie of /admin/auth/signin is there, and HttpOnly.
    const cookies = await owner.context().cookies();
    expect(cookies.every((c) => c.httpOnly)).toBe(true);
    await expect.poll(() => owner.getByRole("link", { name: "public" }).count()).toBe(1);
    await narrowAndShoot(owner, "apps");
  });

  it("creates a tenant", async () => {
    await owner.getByRole("link", { name: "public" }).click();
    await expect.poll(() => heading(owner)).toBe("App public");
    await owner.getByLabel("Tenant id").fill("acme");
    await owner.getByRole("button", { name: "Create tenant" }).click();
    await expect.poll(() => heading(owner)).toBe("Tenant acme of public");
    await expect.poll(() => owner.getByRole("checkbox", { name: "Email and password" }).isChecked()).toBe(true);
    const tenant = await api("GET", "/apps/public/tenants/acme/.well-known/openid-configuration");
    expect(tenant.status).toBe(200);
  });

  it("lists a redirect URI and a provider, whose secret is never shown back, and deletes the provider", async () => {
    const SECRET = "gh-client-secret-1234567890";
    await owner.getByLabel("Redirect URIs (one per line)").fill("https://app.example/auth/callback\n\nhttps://app.example/auth/callback");
    await owner.getByRole("button", { name: "Save redirect URIs" }).click();
    await expect.poll(() => owner.getByRole("status").filter({ hasText: "Saved: 1 redirect URI." }).count()).toBe(1);
    const token = await ownerToken();
    expect((await api("GET", "/admin/apps/public/tenants/acme", undefined, token)).body.tenant.redirect_uris).toEqual([
      "https://app.example/auth/callback",
    ]);

    await owner.getByLabel("Provider id").fill("github");
    await owner.getByLabel("Kind").selectOption("github");
    await owner.getByLabel("Client id", { exact: true }).fill("Iv1.console");
    await owner.getByLabel("Client secret").fill(SECRET);
    await owner.getByRole("button", { name: "Add provider" }).click();
    const row = owner.locator('tr[data-provider="github"]');
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.innerText()).toContain("Iv1.console");
    // Not on the page (the form forgot it), not in the API's answer.
    expect(await owner.getByLabel("Client secret").inputValue()).toBe("");
    expect(await owner.content()).not.toContain(SECRET);
    const listed = await api("GET", "/admin/apps/public/tenants/acme/providers", undefined, token);
    expect(JSON.stringify(listed.body)).not.toContain(SECRET);
    expect(listed.body.items[0]).not.toHaveProperty("client_secret");
    // A change without a secret keeps the stored one.
    await row.getByRole("button", { name: "Change" }).click();
    await owner.getByLabel("Scopes (optional)").fill("read:user");
    await owner.getByRole("button", { name: "Save provider" }).click();
    // (GitHub's default scopes hold read:user too: wait for exactly the new list.)
    await expect.poll(() => row.locator('td[data-label="Scopes"]').innerText()).toBe("read:user");
    await narrowAndShoot(owner, "tenant");
    await owner.locator('tr[data-provider="github"]').getByRole("button", { name: "Delete" }).click();
    await owner.getByRole("button", { name: "Yes, delete github" }).click();
    await expect.poll(() => owner.locator('tr[data-provider="github"]').count()).toBe(0);
    expect((await api("GET", "/admin/apps/public/tenants/acme/providers", undefined, token)).body.items).toEqual([]);
  });

  it("creates an API key, shows it once, and the key introspects", async () => {
    await owner.getByRole("link", { name: "API keys" }).click();
    await expect.poll(() => heading(owner)).toBe("API keys of acme");
    await owner.getByLabel("Name", { exact: true }).fill("backend");
    await owner.getByRole("button", { name: "Create key" }).click();
    const secret = owner.locator('code[data-secret="Key"]');
    apiKey = (await secret.innerText()).trim();
    expect(apiKey).toMatch(/^tsk_/);
    await expect.poll(() => owner.locator('tr[data-key="backend"]').count()).toBe(1);
    await narrowAndShoot(owner, "api-keys");
    await owner.getByRole("button", { name: "Done, hide it" }).click();
    expect(await owner.locator('code[data-secret="Key"]').count()).toBe(0);

    const signup = await api("POST", "/apps/public/tenants/acme/auth/signup", { email: "alice@example.com", password: PASSWORD });
    expect(signup.status).toBe(201);
    aliceToken = signup.body.session.access_token;
    expect((await introspect(apiKey, aliceToken)).body.active).toBe(true);
  });

  it("sets the tenant's OAuth settings, registers a client (secret shown once), disables, enables and deletes it, and approves a pending one", async () => {
    await owner.getByRole("link", { name: "Settings" }).click();
    await expect.poll(() => heading(owner)).toBe("Tenant acme of public");
    const settings = owner.getByRole("form", { name: "OAuth settings" });
    await expect.poll(() => settings.getByLabel("Dynamic client registration").count()).toBe(1);
    // Client ID Metadata Documents: offered, and turned on here.
    await settings.getByRole("checkbox", { name: "Accept https URLs as client ids" }).check();
    await settings.getByLabel("Dynamic client registration").selectOption("approval");
    await settings.getByRole("button", { name: "Add a scope" }).click();
    await settings.getByLabel("Scope name").fill("mcp:tools");
    await settings.getByLabel("Description").fill("Use your tools");
    await settings.getByLabel("Access token lifetime (seconds)").fill("600");
    await settings.getByRole("button", { name: "Save OAuth settings" }).click();
    await expect.poll(() => settings.getByRole("status").innerText()).toBe("Saved: registration approval, 1 scope, access tokens for 10 minutes.");
    const token = await ownerToken();
    expect((await api("GET", "/admin/apps/public/tenants/acme/oauth", undefined, token)).body.oauth).toEqual({
      registration: "approval",
      client_id_metadata_documents: true,
      scopes: { "mcp:tools": "Use your tools" },
      access_token_ttl_seconds: 600,
    });

    await owner.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "OAuth clients" }).click();
    await expect.poll(() => heading(owner)).toBe("OAuth clients of acme");
    await owner.getByLabel("Client name").fill("Backend");
    await owner.getByLabel("Client type").selectOption("confidential");
    await owner.getByLabel("Redirect URIs (one per line)").fill("https://app.example/oauth/callback");
    await owner.getByRole("checkbox", { name: /^client_credentials/ }).check();
    await owner.getByRole("checkbox", { name: "mcp:tools — Use your tools" }).check();
    await owner.getByRole("button", { name: "Register client" }).click();
    const clientSecret = (await owner.locator('code[data-secret="Secret"]').innerText()).trim();
    const clientId = (await owner.locator('code[data-secret="Client id"]').innerText()).trim();
    expect(clientSecret).toMatch(/^tss_/);
    const row = owner.locator('tr[data-client="Backend"]');
    await expect.poll(() => row.getByTestId("client-status").innerText()).toBe("active");
    expect(await row.innerText()).toContain(clientId);
    await owner.getByRole("button", { name: "Done, hide it" }).click();
    expect(await owner.content()).not.toContain(clientSecret);
    const listed = await api("GET", "/admin/apps/public/tenants/acme/clients", undefined, token);
    expect(JSON.stringify(listed.body)).not.toContain(clientSecret);
    const basic = { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}` };
    const clientToken = () => oauthToken({ grant_type: "client_credentials", scope: "mcp:tools" }, basic);
    expect((await clientToken()).status).toBe(200);

    // Disabling asks first (it revokes every grant); the client is then refused, until enabled again.
    await row.getByRole("button", { name: "Disable" }).click();
    await owner.getByRole("button", { name: "Yes, disable Backend and revoke its grants" }).click();
    await expect.poll(() => row.getByTestId("client-status").innerText()).toBe("disabled");
    expect(await clientToken()).toMatchObject({ status: 401, body: { error: "invalid_client" } });
    await row.getByRole("button", { name: /^Enable/ }).click();
    await expect.poll(() => row.getByTestId("client-status").innerText()).toBe("active");
    expect((await clientToken()).status).toBe(200);

    // A client that registers itself while registration is "approval" waits, listed first and marked.
    const registered = await api("POST", "/apps/public/tenants/acme/oauth/register", {
      client_name: "Desktop MCP",
      redirect_uris: ["http://127.0.0.1/callback"],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
    });
    expect(registered.status).toBe(201);
    expect(registered.body.status).toBe("pending");
    await go(owner, "#/apps/public/tenants/acme");
    await expect.poll(() => heading(owner)).toBe("Tenant acme of public");
    await owner.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "OAuth clients" }).click();
    const pending = owner.locator('tr[data-client="Desktop MCP"]');
    await expect.poll(() => pending.getByTestId("client-status").innerText()).toBe("pending approval");
    expect(await owner.locator("main tbody tr").first().getAttribute("data-client")).toBe("Desktop MCP");
    expect(await owner.locator("[data-pending-note]").innerText()).toContain("1 client on this page registered itself and waits for approval");
    await narrowAndShoot(owner, "oauth-clients");
    await pending.getByRole("button", { name: /^Approve/ }).click();
    await expect.poll(() => pending.getByTestId("client-status").innerText()).toBe("active");
    expect(await owner.locator("[data-pending-note]").count()).toBe(0);
    const approved = await api("GET", `/admin/apps/public/tenants/acme/clients/${registered.body.client_id}`, undefined, token);
    expect(approved.body.client.status).toBe("active");

    // Deleting asks first too.
    await row.getByRole("button", { name: "Delete" }).click();
    await owner.getByRole("button", { name: "Yes, delete Backend" }).click();
    await expect.poll(() => owner.locator('tr[data-client="Backend"]').count()).toBe(0);
    expect((await api("GET", `/admin/apps/public/tenants/acme/clients/${clientId}`, undefined, token)).status).toBe(404);
    expect((await clientToken()).body.error).toBe("invalid_client");
  });

  it("suspends an end user, and its token introspects inactive at once", async () => {
    await owner.getByRole("link", { name: "End users" }).click();
    await expect.poll(() => heading(owner)).toBe("End users of acme");
    await owner.getByLabel("Email starts with").fill("ali");
    await owner.getByRole("button", { name: "Search" }).click();
    await owner.getByRole("link", { name: "alice@example.com" }).click();
    await expect.poll(() => heading(owner)).toBe("alice@example.com");
    await owner.getByLabel("Reason (kept in the audit log)").fill("chargeback");
    await owner.getByRole("button", { name: "Suspend in this tenant" }).click();
    await expect.poll(() => owner.getByTestId("user-status").innerText()).toBe("suspended");
    expect((await introspect(apiKey, aliceToken)).body).toEqual({ active: false });
    await narrowAndShoot(owner, "user");
    await owner.getByRole("link", { name: /End users of acme/ }).click();
    await expect.poll(() => owner.locator("main table").innerText()).toContain("suspended");
    await narrowAndShoot(owner, "users");
  });

  it("erases an end user from the app, and deletes an app, each gone at once", async () => {
    const bob = await api("POST", "/apps/public/tenants/acme/auth/signup", { email: "bob@example.com", password: PASSWORD });
    expect(bob.status).toBe(201);
    const bobToken = bob.body.session.access_token;
    expect((await introspect(apiKey, bobToken)).body.active).toBe(true);
    await owner.getByLabel("Email starts with").fill("bob");
    await owner.getByRole("button", { name: "Search" }).click();
    await owner.getByRole("link", { name: "bob@example.com" }).click();
    await expect.poll(() => heading(owner)).toBe("bob@example.com");
    await owner.getByRole("button", { name: "Erase from the app" }).click();
    await owner.getByRole("button", { name: "Yes, erase bob@example.com everywhere" }).click();
    await expect.poll(() => heading(owner)).toBe("End users of acme");
    expect((await introspect(apiKey, bobToken)).body).toEqual({ active: false });
    const token = await ownerToken();
    expect((await api("GET", `/admin/apps/public/tenants/acme/users/${bob.body.user.id}`, undefined, token)).status).toBe(404);

    expect((await api("POST", "/admin/apps", { id: "doomed" }, token)).status).toBe(201);
    await go(owner, "#/apps/doomed");
    await expect.poll(() => heading(owner)).toBe("App doomed");
    await owner.getByRole("button", { name: "Delete the app doomed" }).click();
    await owner.getByRole("button", { name: "Yes, delete doomed and everything in it" }).click();
    await expect.poll(() => heading(owner)).toBe("Apps");
    expect((await api("GET", "/admin/apps/doomed/tenants", undefined, token)).status).toBe(404);
    // public itself offers no deletion.
    await go(owner, "#/apps/public");
    await expect.poll(() => heading(owner)).toBe("App public");
    expect(await owner.getByRole("button", { name: /Delete the app/ }).count()).toBe(0);
  });

  it("invites a support operator, who accepts through the link shown once", async () => {
    await owner.getByRole("link", { name: "Team" }).click();
    await expect.poll(() => heading(owner)).toBe("Team of public");
    await owner.getByLabel("Email", { exact: true }).fill(SUPPORT);
    await owner.getByLabel("Membership type").selectOption("contractor");
    // The built-in roles are offered, mcp_admin (OAuth clients) among them.
    expect(await owner.getByRole("checkbox", { name: /^mcp_admin — OAuth/ }).count()).toBe(1);
    await owner.getByRole("checkbox", { name: /^support/ }).check();
    await owner.getByRole("button", { name: "Invite" }).click();
    inviteLink = (await owner.locator('code[data-secret="Link"]').innerText()).trim();
    expect(inviteLink).toMatch(/\/console\/#\/accept\?token=tsi_/);
    await expect.poll(() => owner.locator(`tr[data-member="${SUPPORT}"]`).innerText()).toContain("invited");
    await narrowAndShoot(owner, "team");
    await owner.getByRole("button", { name: "Done, hide it" }).click();

    const invitee = await newPage(390, 844);
    await invitee.goto(inviteLink);
    await expect.poll(() => heading(invitee)).toBe("Accept an invitation");
    // The token left the address bar at once.
    expect(invitee.url()).not.toContain("tsi_");
    expect(await invitee.getByLabel("Invitation token").inputValue()).toMatch(/^tsi_/);
    await invitee.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await invitee.getByRole("button", { name: "Accept invitation" }).click();
    await expect.poll(() => invitee.getByRole("status").innerText()).toContain("You are now a member of the app public");
    await invitee.close();
  });

  it("defines a custom operator role, offers it when binding, and relabels a membership's type", async () => {
    await go(owner, "#/apps/public/operator-roles");
    await expect.poll(() => heading(owner)).toBe("Operator roles of public");
    await expect.poll(() => owner.locator('tr[data-role="support"]').innerText()).toContain("built-in");
    await owner.getByLabel("Role name").fill("reader");
    await owner.getByRole("checkbox", { name: "users:read", exact: true }).check();
    await owner.getByRole("button", { name: "Define role" }).click();
    await expect.poll(() => owner.locator('tr[data-role="reader"]').count()).toBe(1);
    expect(await owner.locator('tr[data-role="reader"]').innerText()).toContain("the app's own");
    await narrowAndShoot(owner, "operator-roles");

    await owner.getByRole("link", { name: "Team" }).click();
    await expect.poll(() => heading(owner)).toBe("Team of public");
    const row = owner.locator(`tr[data-member="${SUPPORT}"]`);
    await expect.poll(() => row.innerText()).toContain("invitation");
    expect(await owner.locator(`tr[data-member="${OWNER}"]`).innerText()).toContain("bootstrap");
    await row.getByRole("button", { name: "Change roles or type" }).click();
    await expect.poll(() => row.getByRole("checkbox", { name: /^reader — users:read/ }).count()).toBe(1);
    await row.getByLabel("Membership type").selectOption("member");
    await row.getByRole("button", { name: "Save", exact: true }).click();
    await expect.poll(() => row.locator('td[data-label="Type"]').innerText()).toBe("member");
    const members = await api("GET", "/admin/apps/public/members", undefined, await ownerToken());
    const support = members.body.items.find((m: { email: string }) => m.email === SUPPORT);
    expect([support.membership_type, support.source, support.roles]).toEqual(["member", "invite", ["support"]]);
  });

  it("shows a support operator no way to create an API key, and the API refuses it anyway", async () => {
    const support = await newPage();
    await support.goto("/console/");
    await signIn(support, SUPPORT);
    await go(support, "#/apps/public/tenants/acme/users");
    await expect.poll(() => heading(support)).toBe("End users of acme");
    // The navigation offers the API-key page disabled, with the reason.
    const nav = support.getByRole("navigation", { name: "Sections" });
    expect(await nav.getByRole("link", { name: "API keys" }).count()).toBe(0);
    expect(await nav.locator(".disabled", { hasText: "API keys" }).getAttribute("title")).toBe("Needs the permission apikeys:write");
    expect(await nav.locator(".disabled", { hasText: "OAuth clients" }).getAttribute("title")).toBe("Needs the permission clients:read");
    // Reached by its address: no create button, and the listing gets the API's own 403.
    await go(support, "#/apps/public/tenants/acme/api-keys");
    await expect.poll(() => heading(support)).toBe("API keys of acme");
    await expect.poll(() => support.getByRole("alert").innerText()).toContain("The credentials lack the needed permission.");
    expect(await support.getByRole("alert").innerText()).toContain("forbidden");
    expect(await support.getByRole("button", { name: "Create key" }).count()).toBe(0);
    expect(await support.getByText("needs the permission apikeys:write").count()).toBe(1);
    const token = (await api("POST", "/admin/auth/signin", { email: SUPPORT, password: PASSWORD })).body.access_token;
    const refused = await api("POST", "/admin/apps/public/tenants/acme/api-keys", { name: "sneaky", scopes: ["introspect"] }, token);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe("forbidden");
    // What support may do is offered: suspending is, changing plans is not.
    await go(support, "#/apps/public/tenants/acme/users");
    await support.getByRole("link", { name: "alice@example.com" }).click();
    await expect.poll(() => heading(support)).toBe("alice@example.com");
    expect(await support.getByRole("button", { name: "Unsuspend" }).isEnabled()).toBe(true);
    expect(await support.getByRole("button", { name: "Save plan" }).count()).toBe(0);
    expect(await support.getByLabel("Plan tier").isDisabled()).toBe(true);
    expect(await support.getByRole("button", { name: /Remove from acme/ }).isDisabled()).toBe(true);
    // The tenant's providers are listed to it (tenants:read), but not offered for change.
    await go(support, "#/apps/public/tenants/acme");
    await expect.poll(() => support.getByRole("heading", { name: "Identity providers" }).count()).toBe(1);
    expect(await support.getByRole("button", { name: "Add provider" }).count()).toBe(0);
    expect(await support.getByText("Adding or changing providers needs the permission tenants:write").count()).toBe(1);
    // Nor the OAuth settings, which need clients:read.
    expect(await support.getByRole("heading", { name: "OAuth", exact: true }).count()).toBe(0);
  });

  it("revokes the API key, which stops introspecting", async () => {
    await go(owner, "#/apps/public/tenants/acme/api-keys");
    await expect.poll(() => owner.locator('tr[data-key="backend"]').count()).toBe(1);
    await owner.locator('tr[data-key="backend"]').getByRole("button", { name: "Revoke" }).click();
    await owner.getByRole("button", { name: "Yes, revoke backend" }).click();
    await expect.poll(() => owner.locator('tr[data-key="backend"]').count()).toBe(0);
    const refused = await introspect(apiKey, aliceToken);
    expect(refused.status).toBe(401);
  });

  it("shows an audit entry for each change", async () => {
    await owner.getByRole("link", { name: "Audit log" }).click();
    await expect.poll(() => heading(owner)).toBe("Audit log of public");
    for (const action of [
      "tenant.create",
      "tenant.update",
      "provider.put",
      "provider.delete",
      "api_key.create",
      "oauth_settings.put",
      "client.create",
      "client.update",
      "client.register",
      "client.delete",
      "user.suspend",
      "user.erase",
      "app.delete",
      "member.invite",
      "member.accept",
      "operator_role.put",
      "member.update",
      "api_key.delete",
    ]) {
      await expect.poll(() => owner.locator(`tr[data-action="${action}"]`).count(), action).toBeGreaterThan(0);
    }
    expect(await owner.locator('tr[data-action="user.suspend"]').innerText()).toContain("chargeback");
    await narrowAndShoot(owner, "audit");
    // The API's own filter: the entries of one tenant.
    await owner.getByLabel("Tenant", { exact: true }).fill("acme");
    await owner.getByRole("button", { name: "Filter" }).click();
    await expect.poll(() => owner.getByRole("heading", { name: "Entries of tenant acme" }).count()).toBe(1);
    await expect.poll(() => owner.locator('tr[data-action="user.suspend"]').count()).toBe(1);
    expect(await owner.locator('tr[data-action="member.invite"]').count()).toBe(0);
  });

  it(`pages through ${SEEDED_USERS} end users one keyset page at a time, and filters by prefix`, async () => {
    expect((await api("PUT", "/admin/apps/public/tenants/big", { login_methods: ["emailpassword"] }, await ownerToken())).status).toBe(201);
    await seedUsers("big", SEEDED_USERS);
    const asked: URL[] = [];
    owner.on("request", (r) => {
      const u = new URL(r.url());
      if (u.pathname === "/admin/apps/public/tenants/big/users") asked.push(u);
    });
    await go(owner, "#/apps/public/tenants/big/users");
    await expect.poll(() => owner.locator("main tbody tr").count()).toBe(50);
    const first = await owner.locator("main tbody tr").first().innerText();
    const took: number[] = [];
    for (let page = 2; page <= 3; page++) {
      const started = Date.now();
      await owner.getByRole("button", { name: "Next →" }).click();
      await expect.poll(() => owner.getByText(`Page ${page}`, { exact: true }).count()).toBe(1);
      await expect.poll(() => owner.locator("main tbody tr").count()).toBe(50);
      took.push(Date.now() - started);
    }
    if (process.env.TESSERA_CONSOLE_USERS) console.log(`pages 2 and 3 of ${SEEDED_USERS} users: ${took.join(" ms, ")} ms`);
    expect(Math.max(...took)).toBeLessThan(5_000);
    expect(await owner.locator("main tbody tr").first().innerText()).not.toBe(first);
    await owner.getByRole("button", { name: "← Previous" }).click();
    await expect.poll(() => owner.getByText("Page 2", { exact: true }).count()).toBe(1);
    // A prefix matching 100 users: two pages of 50, the second the last.
    await owner.getByLabel("Email starts with").fill("user0009");
    await owner.getByRole("button", { name: "Search" }).click();
    await expect.poll(() => owner.getByText("Page 1", { exact: true }).count()).toBe(1);
    await expect.poll(() => owner.locator("main tbody tr").count()).toBe(50);
    await owner.getByRole("button", { name: "Next →" }).click();
    await expect.poll(() => owner.getByText("Page 2", { exact: true }).count()).toBe(1);
    await expect.poll(() => owner.locator("main tbody tr").first().innerText()).toContain("user000950@example.com");
    expect(await owner.getByRole("button", { name: "Next →" }).isDisabled()).toBe(true);
    // Nothing ever asked for everything: every request named a page size, every later page a cursor.
    expect(asked.length).toBeGreaterThanOrEqual(6);
    expect(asked.every((u) => Number(u.searchParams.get("limit")) === 50)).toBe(true);
    expect(asked.filter((u) => u.searchParams.has("cursor")).length).toBeGreaterThanOrEqual(3);
  });

  it(`deletes the tenant of the ${SEEDED_USERS} users, showing the deletion's progress until it is done`, async () => {
    await go(owner, "#/apps/public/tenants/big");
    await expect.poll(() => heading(owner)).toBe("Tenant big of public");
    await owner.getByRole("button", { name: "Delete big" }).click();
    await owner.getByRole("button", { name: "Yes, delete big" }).click();
    // Too big for one request: 202, and its progress (the page reads it again every 3 s).
    const progress = owner.locator("[data-deletion]").getByRole("status");
    await expect.poll(() => progress.innerText()).toMatch(/^\s*Under way: \d+ of \d+ phases done, now [a-z ]+; [\d,]+ rows? deleted so far\.$/);
    await narrowAndShoot(owner, "deletion");
    const deletionId = await owner.locator("[data-deletion]").getAttribute("data-deletion");
    // Gone at once for every reader, while the rest follows.
    expect((await api("GET", "/admin/apps/public/tenants/big", undefined, await ownerToken())).status).toBe(404);
    // "Continue now" repeats the DELETE until it is done; then the page leaves for the app.
    const text = () => progress.innerText().catch(() => "");
    // With 100,000 seeded users, hundreds of requests would finish it: one step is shown, the cron is left the rest.
    const steps = SEEDED_USERS > 1000 ? 1 : 20;
    for (let i = 0; i < steps && (await heading(owner)) !== "App public"; i++) {
      const before = await text();
      await owner.getByRole("button", { name: "Continue now" }).click();
      // Each step deletes more rows, so the words change — or the deletion is done and the page leaves.
      await expect.poll(async () => (await heading(owner)) === "App public" || (await text()) !== before).toBe(true);
    }
    if (SEEDED_USERS > 1000) return;
    await expect.poll(() => heading(owner)).toBe("App public");
    const done = await api("GET", `/admin/apps/public/deletions/${deletionId}`, undefined, await ownerToken());
    expect(done.body.deletion.state).toBe("done");
    expect(done.body.deletion.progress.rows_deleted).toBeGreaterThanOrEqual(2 * SEEDED_USERS);
  });

  it("signs up the owner of a new app, which offers its settings only until the emailed link verifies the email", async () => {
    const DEV = "dev@example.com";
    expect((await api("PUT", "/admin/apps/public/email-delivery", { kind: "outbox" }, await ownerToken())).status).toBe(200);
    const dev = await newPage();
    await dev.goto("/console/");
    await dev.getByRole("link", { name: "Create an app" }).click();
    await expect.poll(() => heading(dev)).toBe("Create an app");
    await dev.getByLabel("Email", { exact: true }).fill(DEV);
    await dev.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await dev.getByLabel("App id").fill("devshop");
    await dev.getByRole("button", { name: "Sign up" }).click();
    await expect.poll(() => heading(dev)).toBe("Apps");
    await expect.poll(() => dev.getByRole("main").innerText()).toContain("waits for email verification");
    await dev.getByRole("link", { name: "devshop" }).click();
    await expect.poll(() => heading(dev)).toBe("App devshop");
    const notice = dev.getByRole("region", { name: "Email verification" });
    expect(await notice.innerText()).toContain("offers its settings only");
    await narrowAndShoot(dev, "pending-app");
    // Settings are offered; the rest is held back, and says why.
    expect(await dev.getByRole("button", { name: "Create tenant" }).isEnabled()).toBe(true);
    const nav = dev.getByRole("navigation", { name: "Sections" });
    expect(await nav.getByRole("link", { name: "Team" }).count()).toBe(0);
    expect(await nav.locator(".disabled", { hasText: "Team" }).getAttribute("title")).toBe(
      "Only the settings until the owner's email is verified",
    );
    // Reached by its address, the API's own answer.
    await go(dev, "#/apps/devshop/team");
    await expect.poll(() => dev.getByRole("alert").first().innerText()).toContain("app_not_verified");
    await notice.getByRole("button", { name: "Send the verification link again" }).click();
    await expect.poll(() => notice.getByRole("status").innerText()).toContain("on its way");

    // The emailed link (OPERATOR_LINK_BASE_URL?type=operator_email_verification&token=…), opened in the console.
    const mail = await api("GET", `/admin/apps/public/outbox?to=${encodeURIComponent(DEV)}`, undefined, await ownerToken());
    const link = new URL(mail.body.items[0].link);
    expect(link.searchParams.get("type")).toBe("operator_email_verification");
    await dev.goto(`/console/?type=operator_email_verification&token=${encodeURIComponent(link.searchParams.get("token")!)}`);
    await expect.poll(() => heading(dev)).toBe("Verify your email");
    expect(dev.url()).not.toContain("token=");
    await dev.getByRole("button", { name: "Verify my email" }).click();
    await expect.poll(() => dev.getByRole("status").innerText()).toContain(`${DEV} is verified`);
    const token = (await api("POST", "/admin/auth/signin", { email: DEV, password: PASSWORD })).body.access_token;
    expect((await api("GET", "/admin/apps/devshop/members", undefined, token)).status).toBe(200);
  });

  it("broke no Content-Security-Policy rule and threw nothing on any page", () => {
    expect(violations).toEqual([]);
  });
});

let cachedOwnerToken = "";
async function ownerToken(): Promise<string> {
  cachedOwnerToken ||= (await api("POST", "/admin/auth/signin", { email: OWNER, password: PASSWORD })).body.access_token;
  return cachedOwnerToken;
}

/**
 * `count` end users of tenant `tenant` of the app `public`, written straight into D1 (`userNNNNNN@example.com`),
 * each with an edge document's `edge_sync` row (as users who were ever changed or signed out have): a
 * tenant's deletion withdraws those 100 a step, which is what makes it too big for one request.
 */
async function seedUsers(tenant: string, count: number): Promise<void> {
  const db = await worker.db();
  const at = Date.UTC(2026, 0, 1);
  await db
    .prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
       INSERT INTO users (app_id, id, email, password_hash, created_at)
       SELECT 'public', printf('01900000-0000-7000-8000-%012d', i), printf('user%06d@example.com', i), NULL, ?2 FROM n`,
    )
    .bind(count, at)
    .run();
  await db
    .prepare(
      `INSERT INTO tenant_users (app_id, tenant_id, user_id, email, status, plan_tier, created_at)
       SELECT app_id, ?1, id, email, 'active', 'free', created_at FROM users
       WHERE app_id = 'public' AND id LIKE '01900000-0000-7000-8000-%'`,
    )
    .bind(tenant)
    .run();
  await db
    .prepare(
      `INSERT INTO edge_sync (doc, version, synced_version, changed_at)
       SELECT 'flags:public:' || ?1 || ':' || id, 1, 1, ?2 FROM users
       WHERE app_id = 'public' AND id LIKE '01900000-0000-7000-8000-%'`,
    )
    .bind(tenant, at)
    .run();
}
