import { describe, expect, it } from "vitest";
import {
  clientBody,
  grantOptions,
  isScopeToken,
  lifetimeWords,
  pendingFirst,
  pendingNote,
  scopeRows,
  scopesOf,
  settingsBody,
  statusChange,
  ttlOf,
  valueOf,
  type ClientForm,
} from "../src/oauth";
import { ApiError } from "../src/problem";

describe("the OAuth scopes as edited", () => {
  it("are rows of the settings' scopes, and back, trimmed, blank rows dropped", () => {
    const rows = scopeRows({ "mcp:tools": "Use your tools", read: "" });
    expect(rows).toEqual([
      { name: "mcp:tools", description: "Use your tools" },
      { name: "read", description: "" },
    ]);
    expect(scopesOf([...rows, { name: "  ", description: " " }, { name: " write ", description: " Change things " }])).toEqual({
      ok: true,
      value: { "mcp:tools": "Use your tools", read: "", write: "Change things" },
    });
    expect(scopesOf([])).toEqual({ ok: true, value: {} });
  });

  it("are RFC 6749 scope tokens, as the API demands", () => {
    for (const good of ["mcp:tools", "a", "read:user/repo", "x".repeat(100), "!#[]~"]) expect(isScopeToken(good), good).toBe(true);
    for (const bad of ["", "two words", 'quo"te', "back\\slash", "é", "x".repeat(101), "tab\t"]) expect(isScopeToken(bad), bad).toBe(false);
    const refused = scopesOf([{ name: "two words", description: "" }]);
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.error).toContain('"two words" is not a scope name');
  });

  it("refuse a description without a name, a name twice, a long or control-laden description, more than 50", () => {
    expect(scopesOf([{ name: "", description: "Orphan" }])).toEqual({ ok: false, error: 'The scope described as "Orphan" needs a name.' });
    expect(scopesOf([{ name: "a", description: "" }, { name: " a", description: "again" }])).toEqual({ ok: false, error: "The scope a is listed twice." });
    expect(scopesOf([{ name: "a", description: "é".repeat(200) }]).ok).toBe(true);
    expect(scopesOf([{ name: "a", description: "é".repeat(201) }]).ok).toBe(false);
    expect(scopesOf([{ name: "a", description: "line\u0007bell" }]).ok).toBe(false);
    expect(scopesOf([{ name: "a", description: "c1\u0085" }]).ok).toBe(false);
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `s${i}`, description: "" }));
    expect(scopesOf(many(50)).ok).toBe(true);
    expect(scopesOf(many(51))).toEqual({ ok: false, error: "A tenant offers at most 50 scopes." });
  });
});

describe("the access tokens' lifetime", () => {
  it("is whole seconds from 60 to 86400", () => {
    expect(ttlOf(" 900 ")).toEqual({ ok: true, value: 900 });
    expect(ttlOf("60")).toEqual({ ok: true, value: 60 });
    expect(ttlOf("86400")).toEqual({ ok: true, value: 86400 });
    for (const bad of ["59", "86401", "", "9.5", "-100", "1e3", "abc"]) expect(ttlOf(bad).ok, bad).toBe(false);
  });

  it("is said in words", () => {
    expect(lifetimeWords(900)).toBe("15 minutes");
    expect(lifetimeWords(60)).toBe("1 minute");
    expect(lifetimeWords(5430)).toBe("1 hour 30 minutes 30 seconds");
    expect(lifetimeWords(86400)).toBe("24 hours");
    expect(lifetimeWords(0)).toBe("0 seconds");
  });
});

describe("the OAuth settings' PUT body", () => {
  it("holds the form's settings", () => {
    expect(settingsBody({ registration: "approval", documents: false, rows: [{ name: "mcp:tools", description: "Use your tools" }], ttl: "600" })).toEqual({
      ok: true,
      value: { registration: "approval", client_id_metadata_documents: false, scopes: { "mcp:tools": "Use your tools" }, access_token_ttl_seconds: 600 },
    });
    expect(settingsBody({ registration: "open", documents: true, rows: [], ttl: "900" })).toEqual({
      ok: true,
      value: { registration: "open", client_id_metadata_documents: true, scopes: {}, access_token_ttl_seconds: 900 },
    });
  });

  it("is not made while a scope or the lifetime is wrong, and says which", () => {
    expect(settingsBody({ registration: "off", documents: false, rows: [{ name: "a b", description: "" }], ttl: "600" }).ok).toBe(false);
    expect(settingsBody({ registration: "off", documents: false, rows: [], ttl: "10" })).toEqual({
      ok: false,
      error: "The access token lifetime is whole seconds from 60 to 86400.",
    });
  });

  it("fails as a validation problem the action shows, before anything is sent", () => {
    expect(valueOf({ ok: true, value: 3 })).toBe(3);
    try {
      valueOf({ ok: false, error: "Nope." });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ApiError);
      expect((e as ApiError).problem).toEqual({ status: 0, code: "validation_failed", detail: "Nope." });
    }
  });
});

describe("a new client's POST body", () => {
  const form: ClientForm = {
    name: " Inspector ",
    type: "public",
    redirectUris: "http://127.0.0.1/callback\n\nhttp://127.0.0.1/callback\n",
    grantTypes: ["refresh_token", "authorization_code"],
    scopes: ["mcp:tools", "gone"],
    authMethod: "client_secret_post",
  };

  it("sends a public client without an authentication method, its scopes among the tenant's, grants in the API's order", () => {
    expect(clientBody(form, ["read", "mcp:tools"])).toEqual({
      ok: true,
      value: {
        name: "Inspector",
        type: "public",
        redirect_uris: ["http://127.0.0.1/callback"],
        grant_types: ["authorization_code", "refresh_token"],
        scopes: ["mcp:tools"],
      },
    });
  });

  it("sends a confidential client's method, and may give it client_credentials without a redirect URI", () => {
    const body = clientBody({ ...form, type: "confidential", redirectUris: "", grantTypes: ["client_credentials"], scopes: [] }, []);
    expect(body).toEqual({
      ok: true,
      value: {
        name: "Inspector",
        type: "confidential",
        redirect_uris: [],
        grant_types: ["client_credentials"],
        scopes: [],
        token_endpoint_auth_method: "client_secret_post",
      },
    });
  });

  it("never gives a public client client_credentials, and offers it disabled", () => {
    const body = clientBody({ ...form, grantTypes: ["authorization_code", "client_credentials"] }, []);
    expect(body.ok && body.value.grant_types).toEqual(["authorization_code"]);
    expect(clientBody({ ...form, grantTypes: ["client_credentials"] }, [])).toEqual({ ok: false, error: "Choose at least one grant type." });
    expect(grantOptions("public").find((g) => g.value === "client_credentials")).toMatchObject({ disabled: true });
    expect(grantOptions("confidential").some((g) => "disabled" in g)).toBe(false);
  });

  it("needs a name, and a redirect URI for the code grant, and at most 20", () => {
    expect(clientBody({ ...form, name: "  " }, []).ok).toBe(false);
    expect(clientBody({ ...form, redirectUris: " \n" }, [])).toEqual({
      ok: false,
      error: "The authorization_code grant needs at least one redirect URI.",
    });
    const uris = (n: number) => Array.from({ length: n }, (_, i) => `https://app.example/cb${i}`).join("\n");
    expect(clientBody({ ...form, redirectUris: uris(20) }, []).ok).toBe(true);
    expect(clientBody({ ...form, redirectUris: uris(21) }, []).ok).toBe(false);
  });
});

describe("a client's status", () => {
  it("offers approval to a pending client, disabling to an active one, enabling to a disabled one", () => {
    expect(statusChange("pending")).toEqual({ label: "Approve", to: "active" });
    expect(statusChange("active")).toEqual({ label: "Disable", to: "disabled" });
    expect(statusChange("disabled")).toEqual({ label: "Enable", to: "active" });
  });

  it("puts the pending clients of a page first, the rest in the API's order, and counts them", () => {
    const items = [
      { id: 1, status: "active" },
      { id: 2, status: "pending" },
      { id: 3, status: "disabled" },
      { id: 4, status: "pending" },
    ];
    expect(pendingFirst(items).map((c) => c.id)).toEqual([2, 4, 1, 3]);
    expect(pendingNote(items)).toMatch(/^2 clients on this page registered themselves and wait for approval/);
    expect(pendingNote(items.slice(0, 2))).toMatch(/^1 client on this page registered itself and waits for approval/);
    expect(pendingNote([{ status: "active" }])).toBeNull();
  });
});
