// The RFC 7396 merge patch that turns one JSON object into another, so an operator can edit a
// user's whole metadata document and the console sends only the change: keys that are gone
// become `null` (removed), changed objects are patched key by key, anything else is replaced.
// A merge patch cannot set a value to null (null means "remove"): `nullsIn` finds such values
// so the console can say so instead of silently dropping them.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The merge patch from `before` to `after` ({} when they are equal). */
export function mergePatch(before: JsonObject, after: JsonObject): JsonObject {
  const patch: JsonObject = {};
  for (const key of Object.keys(before)) {
    if (!Object.hasOwn(after, key)) patch[key] = null;
  }
  for (const [key, value] of Object.entries(after)) {
    const old = before[key];
    if (isObject(value) && isObject(old)) {
      const inner = mergePatch(old, value);
      if (Object.keys(inner).length > 0) patch[key] = inner;
    } else if (!Object.hasOwn(before, key) || !equal(old, value)) {
      patch[key] = value;
    }
  }
  return patch;
}

/** Applies a merge patch (RFC 7396 §2), as the API will. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key] ?? null, value);
  }
  return result;
}

/** The paths of null values inside `value` (which a merge patch would remove, not store). */
export function nullsIn(value: Json, path = ""): string[] {
  if (value === null) return [path || "(the document)"];
  if (Array.isArray(value)) return [];
  if (!isObject(value)) return [];
  return Object.entries(value).flatMap(([k, v]) => nullsIn(v, path ? `${path}.${k}` : k));
}

function equal(a: Json | undefined, b: Json): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
