// The pure part of the third-party sign-in settings: the tenant's redirect URIs as typed, and
// a provider's PUT body from its form. Tested without a browser.

import type { ProviderPut } from "./api";

/** The URIs of a text with one per line (blank lines dropped, repeats once). */
export function urisOf(text: string): string[] {
  return [
    ...new Set(
      text
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean),
    ),
  ];
}

/** The body of a provider's PUT from the form's text fields (empty ones left out). */
export function providerBody(form: {
  kind: "oidc" | "github";
  issuer: string;
  enterpriseUrl: string;
  clientId: string;
  clientSecret: string;
  scopes: string;
}): ProviderPut {
  const body: ProviderPut = { kind: form.kind, client_id: form.clientId.trim() };
  if (form.clientSecret !== "") body.client_secret = form.clientSecret;
  if (form.kind === "oidc" && form.issuer.trim()) body.issuer = form.issuer.trim();
  if (form.kind === "github" && form.enterpriseUrl.trim()) body.enterprise_url = form.enterpriseUrl.trim();
  const scopes = form.scopes.split(/[\s,]+/).filter(Boolean);
  if (scopes.length) body.scopes = scopes;
  return body;
}
