import { describe, expect, it } from "vitest";
import { providerBody, urisOf } from "../src/thirdparty";

const form = {
  kind: "oidc" as const,
  issuer: " https://id.example ",
  enterpriseUrl: "https://ghe.example",
  clientId: " client ",
  clientSecret: "s3cret",
  scopes: "openid, email  profile",
};

describe("the redirect URIs as typed", () => {
  it("are one per line, trimmed, without blanks or repeats", () => {
    expect(urisOf(" https://a.example/cb \n\nhttps://b.example/cb\nhttps://a.example/cb\n")).toEqual([
      "https://a.example/cb",
      "https://b.example/cb",
    ]);
    expect(urisOf("")).toEqual([]);
  });
});

describe("a provider's PUT body", () => {
  it("sends what the kind needs, trimmed", () => {
    expect(providerBody(form)).toEqual({
      kind: "oidc",
      client_id: "client",
      client_secret: "s3cret",
      issuer: "https://id.example",
      scopes: ["openid", "email", "profile"],
    });
    expect(providerBody({ ...form, kind: "github", scopes: "" })).toEqual({
      kind: "github",
      client_id: "client",
      client_secret: "s3cret",
      enterprise_url: "https://ghe.example",
    });
  });

  it("leaves the secret out when none is typed, so a change keeps the stored one", () => {
    expect(providerBody({ ...form, clientSecret: "" })).not.toHaveProperty("client_secret");
  });
});
