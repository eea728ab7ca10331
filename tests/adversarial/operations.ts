// Requests built from the OpenAPI document the worker serves, so that the tenant matrix and the
// fault sweep cover every operation: an operation added to the document is in both at once,
// and one the builder cannot make a request for fails loudly instead of being skipped.
//
// A request is built for a *place* — an app, a tenant, and the ids of resources there — with a
// minimal valid body generated from the operation's schema, then adjusted where a value must
// name something real (a role the app defines, a user of the tenant…). A body whose operation
// takes no JSON (the authorization pages' forms, the token endpoint) is sent form-encoded; the
// authorization endpoint gets the query and cookies of a browser at that place.

import {
  basic, CONFIDENTIAL_CLIENT, FORM, formOf, OAUTH_REDIRECT, OAUTH_SETTINGS, pageCookies, PASSWORD, PROVIDER_BODY, TENANT_SETTINGS,
  THIRDPARTY_REDIRECT, type Csrf,
} from "./fixture";

/** The subset of an OpenAPI operation this module reads. */
export interface Operation {
  id: string;
  method: string;
  /** The path template, e.g. `/admin/apps/{app_id}/tenants/{tenant_id}`. */
  path: string;
  /** Names of the security schemes any alternative of `security` lists (empty: no credential). */
  schemes: string[];
  /** Path parameter names. */
  pathParams: string[];
  /** Query parameter names. */
  queryParams: string[];
  /** The request body's media types and schema, when it takes one. */
  body?: { required: boolean; mediaTypes: string[]; schema: any };
  raw: any;
}

/** Every operation of the document, in document order. */
export function operations(doc: any): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      const params: any[] = op.parameters ?? [];
      const content = op.requestBody?.content;
      out.push({
        id: op.operationId,
        method: method.toUpperCase(),
        path,
        schemes: [...new Set<string>((op.security ?? []).flatMap((alt: any) => Object.keys(alt)))],
        pathParams: params.filter((p) => p.in === "path").map((p) => p.name),
        queryParams: params.filter((p) => p.in === "query").map((p) => p.name),
        body: content
          ? {
              required: !!op.requestBody.required,
              mediaTypes: Object.keys(content),
              schema: content["application/json"]?.schema ?? Object.values<any>(content)[0].schema,
            }
          : undefined,
        raw: op,
      });
    }
  }
  return out;
}

/** The OAuth management operations: those the document says need `clients:read` or `clients:write`. */
export const managesClients = (op: Operation) => /\bclients:(read|write)\b/.test(`${op.raw.summary ?? ""} ${op.raw.description ?? ""}`);

/** True when the operation names an app (and so may name a tenant) in its path. */
export const takesApp = (op: Operation) => op.pathParams.includes("app_id");
/** True when the operation names a tenant in its path, query or body. */
export function takesTenant(op: Operation, doc: any): boolean {
  if (op.pathParams.includes("tenant_id") || op.queryParams.includes("tenant_id")) return true;
  const schema = op.body ? resolve(doc, op.body.schema) : undefined;
  return !!schema?.properties?.tenant_id;
}

function resolve(doc: any, schema: any): any {
  if (schema?.$ref) return resolve(doc, doc.components.schemas[schema.$ref.replace("#/components/schemas/", "")]);
  return schema;
}

/** Where a request is aimed, and the resources there that ids and bodies may name. */
export interface Place {
  app: string;
  /** The tenant of the path, query or body; null for app-wide requests. */
  tenant: string | null;
  /** A user of that tenant (path `user_id`, billing events). */
  userId: string;
  /** A user of the app who is not in that tenant (what `associate` brings in). */
  outsiderId: string;
  /** A membership of that app (path `member_id`). */
  memberId: string;
  /** An API key of that tenant (path `key_id`). */
  keyId: string;
  /** A session of that tenant (path `session_id`: the caller's own, to end). */
  sessionId: string;
  /** An end-user role and a plan the app defines (`role` also names operator roles). */
  role: string;
  plan: string;
  /** A third-party provider of that tenant (path `provider_id`). */
  providerId: string;
  /** A deletion of that app (path `deletion_id`). */
  deletionId: string;
  /** An OAuth client of that tenant (path `client_id`). */
  clientId: string;
  /** What a browser and a client bring to that tenant's authorization server. */
  oauth: PlaceOAuth;
}

/** What the authorization endpoint and the token endpoint of a place are given. */
export interface PlaceOAuth {
  /** An authorization request of a client (the query of `authorize`, the `request` of its forms). */
  request: string;
  /** The pages' CSRF cookie and token. */
  csrf: Csrf;
  /** A sign-in cookie of a user of that tenant (the consent page, or a code where the user consented). */
  signIn: string | null;
  /** A confidential client (the token endpoint's client_credentials, client_secret_basic). */
  confidential: { id: string; secret: string };
}

let sequence = 0;
/** A value no other request of this process has used. */
export const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++sequence}`;

/** A minimal value that satisfies `schema` (required properties only, first enum value…). */
export function example(doc: any, schema: any, name = ""): any {
  schema = resolve(doc, schema);
  if (schema === undefined || schema === true) return {};
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return schema.enum.find((v: unknown) => v !== null);
  if (schema.oneOf) return example(doc, schema.oneOf.find((s: any) => resolve(doc, s).type !== "null"), name);
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== "null") : schema.type;
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const key of schema.required ?? []) out[key] = example(doc, schema.properties?.[key], key);
      return out;
    }
    case "array":
      return Array.from({ length: schema.minItems ?? 0 }, () => example(doc, schema.items, name));
    case "integer":
    case "number":
      return schema.minimum ?? 1;
    case "boolean":
      return true;
    case "string":
    default:
      if (schema.format === "email" || name === "email") return `${unique("ex")}@example.com`;
      if (schema.format === "uuid") return "00000000-0000-7000-8000-000000000000";
      if (schema.pattern) return "x1";
      return "x".repeat(Math.max(schema.minLength ?? 1, 1));
  }
}

/**
 * Values an operation's body must hold to be accepted at `place` (beyond the schema's
 * minimum): what the worker looks up must exist there. Keyed by operationId; an operation not
 * listed here gets the schema's minimal example.
 */
export function meaningfulBody(op: Operation, place: Place): Record<string, unknown> | undefined {
  switch (op.id) {
    case "inviteMember":
      return { email: `${unique("inv")}@example.com`, membership_type: "member", roles: ["auditor"], tenant_id: place.tenant };
    case "patchMember":
      return { roles: ["auditor"] };
    case "putUserRoles":
      return { roles: [place.role] };
    case "putPlan":
      return { roles: [place.role], rate_limit: 1 + (++sequence % 10_000) };
    case "putRole":
      return { permissions: ["docs:read", `docs:${unique("p")}`] };
    case "createApiKey":
      return { name: unique("key"), scopes: ["introspect"] };
    case "patchApp":
      // A value that differs from the last one, so that every accepted PATCH changes D1.
      return { settings: { refresh_grace_seconds: 1 + (++sequence % 299) } };
    case "patchUser":
      return { plan_tier: place.plan };
    case "patchMetadata":
      return { matrix: unique("m") };
    case "putTenant":
      // The world's own settings: a PUT of a world tenant must not take passwordless or its
      // link base away from the requests that follow.
      return { ...TENANT_SETTINGS };
    case "createUser":
      return { email: `${unique("cu")}@example.com` };
    case "suspendUser":
      return { reason: "adversarial suite" };
    case "changePassword":
      // The same password again: the change is made (and the caller's other sessions end) but
      // the user keeps the password the suite signs in with.
      return { current_password: PASSWORD, new_password: PASSWORD };
    case "putEmailDelivery":
      return { kind: "outbox" };
    case "putProvider":
      return PROVIDER_BODY();
    case "thirdPartyStart":
      return { redirect_uri: THIRDPARTY_REDIRECT };
    case "putOperatorRole":
      return { permissions: ["members:read", "audit:read"] };
    case "operatorSignup":
      return { email: `${unique("os")}@example.com`, password: PASSWORD, app_id: unique("os") };
    case "billingWebhook":
      return { event_id: unique("evt"), type: "plan.updated", tenant_id: place.tenant, user_id: place.userId, plan_tier: place.plan };
    case "putOAuthSettings":
      // The world's scopes (its clients ask for them), with a lifetime that differs from the last.
      return { ...OAUTH_SETTINGS, access_token_ttl_seconds: 300 + (++sequence % 3000) };
    case "createClient":
      return CONFIDENTIAL_CLIENT(unique("client"));
    case "patchClient":
      return { name: unique("client") };
    case "registerClient":
      // A public client registering itself (the tenant must accept registration).
      return { redirect_uris: [OAUTH_REDIRECT], token_endpoint_auth_method: "none", grant_types: ["authorization_code", "refresh_token"], client_name: unique("reg") };
    case "authorizeSubmit":
      // The consent page's form, approving.
      return { csrf: place.oauth.csrf.tokens[`/apps/${place.app}/tenants/${place.tenant}`] ?? "", request: place.oauth.request, step: "consent", decision: "approve" };
    case "token":
      return { grant_type: "client_credentials" };
    default:
      return undefined;
  }
}

/** A request, ready for `TestWorker.json`. */
export interface BuiltRequest {
  method: string;
  path: string;
  /** JSON body (an object) or a form string; undefined for none. */
  body?: unknown;
  headers: Record<string, string>;
}

/** Builds the request of `op` at `place` (no credential yet). */
export function build(doc: any, op: Operation, place: Place): BuiltRequest {
  const values: Record<string, string | null> = {
    app_id: place.app,
    tenant_id: place.tenant,
    user_id: op.id === "associateUser" ? place.outsiderId : place.userId,
    member_id: place.memberId,
    key_id: place.keyId,
    session_id: place.sessionId,
    role: place.role,
    plan_tier: place.plan,
    provider_id: place.providerId,
    deletion_id: place.deletionId,
    client_id: place.clientId,
  };
  let path = op.path;
  for (const name of op.pathParams) {
    const value = values[name];
    if (value === undefined || value === null) {
      throw new Error(`${op.id}: no value for path parameter {${name}} at ${JSON.stringify(place)}: teach tests/adversarial/operations.ts`);
    }
    path = path.replace(`{${name}}`, encodeURIComponent(value));
  }
  const query = new URLSearchParams();
  if (op.queryParams.includes("tenant_id") && place.tenant) query.set("tenant_id", place.tenant);
  if ([...query].length > 0) path += `?${query}`;
  const headers: Record<string, string> = {};
  // A browser's authorization request, with its cookies; the forms it posts carry them too.
  if (op.id === "authorize") path += `?${place.oauth.request}`;
  if (op.id === "authorize" || op.id === "authorizeSubmit") Object.assign(headers, pageCookies(place.oauth.csrf, place.oauth.signIn ?? undefined));
  if (op.id === "token") Object.assign(headers, basic(place.oauth.confidential.id, place.oauth.confidential.secret));
  let body: unknown;
  if (op.body) {
    const meaningful = meaningfulBody(op, place);
    // A body of alternatives (oneOf) is the meaningful one alone: the schema's example is of
    // the first alternative, and its fields would not mix with another's.
    body = meaningful && resolve(doc, op.body.schema)?.oneOf ? meaningful : { ...example(doc, op.body.schema), ...(meaningful ?? {}) };
    if (!op.body.mediaTypes.includes("application/json")) {
      body = formOf(body as Record<string, string>);
      Object.assign(headers, FORM);
    }
  }
  return { method: op.method, path, body, headers };
}
