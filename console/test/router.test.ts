import { describe, expect, it } from "vitest";
import { resolvePage } from "../src/pages/registry";
import { seg } from "../src/api";
import { hashOf, parseHash } from "../src/router";

describe("hash routes", () => {
  it("take a link with a dot segment to the start page, never to another API path", () => {
    expect(parseHash("#/apps/shop/tenants/%2E%2E/users/U").segments).toEqual([]);
    expect(parseHash("#/apps/./tenants").segments).toEqual([]);
  });

  it("build API paths only of real ids", () => {
    expect(seg("acme")).toBe("acme");
    expect(seg("a/b")).toBe("a%2Fb");
    for (const bad of ["", ".", ".."]) expect(() => seg(bad)).toThrow();
  });

  it("read segments and the fragment's own query", () => {
    const r = parseHash("#/apps/shop/tenants/acme/users?email=al&status=suspended");
    expect(r.segments).toEqual(["apps", "shop", "tenants", "acme", "users"]);
    expect(r.query.get("email")).toBe("al");
  });

  it("round-trip through hashOf, leaving out empty parameters", () => {
    const h = hashOf(["apps", "a b"], { email: "x@y", status: "" });
    expect(h).toBe("#/apps/a%20b?email=x%40y");
    expect(parseHash(h).segments).toEqual(["apps", "a b"]);
  });

  it("name the registered page, its place and what follows", () => {
    const users = resolvePage(["apps", "shop", "tenants", "acme", "users", "u1"]);
    expect([users?.page.id, users?.app, users?.tenant, users?.rest]).toEqual(["users", "shop", "acme", ["u1"]]);
    expect(resolvePage(["apps", "shop"])?.page.id).toBe("app");
    expect(resolvePage(["apps", "shop", "team"])?.page.id).toBe("team");
    expect(resolvePage(["apps", "shop", "tenants", "acme"])?.page.id).toBe("tenant");
    expect(resolvePage(["apps", "shop", "nope"])).toBeNull();
    expect(resolvePage(["elsewhere"])).toBeNull();
  });
});
