// Hash routes (`#/apps/shop/tenants/acme/users?status=suspended`): the page is one document,
// so the worker serves one file and nothing after `#` ever reaches a server or a log.

import { useEffect, useState } from "preact/hooks";

export interface Route {
  /** The path's segments, decoded: `#/apps/shop/team` → ["apps", "shop", "team"]. */
  segments: string[];
  /** The parameters after `?` inside the fragment. */
  query: URLSearchParams;
}

/** The route of a location hash. */
export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, "");
  const [path = "", search = ""] = raw.split("?", 2);
  const segments = path
    .split("/")
    .filter((s) => s !== "")
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  // A dot segment is no id: a link carrying one would make the console call another path.
  if (segments.some((s) => s === "." || s === "..")) return { segments: [], query: new URLSearchParams() };
  return { segments, query: new URLSearchParams(search) };
}

/** The hash of a path of segments and optional query parameters (empty values left out). */
export function hashOf(segments: readonly string[], query?: Record<string, string | null | undefined>): string {
  const path = "#/" + segments.map(encodeURIComponent).join("/");
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export function navigate(hash: string): void {
  if (location.hash !== hash) location.hash = hash;
}

/** Replaces the current entry (no history step): used to drop a secret from the address bar. */
export function replace(hash: string): void {
  history.replaceState(null, "", `${location.pathname}${hash}`);
}

/** The current route, updated on every hash change. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseHash(location.hash));
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return route;
}
