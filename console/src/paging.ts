// Keyset paging as the API does it: a page is named by an opaque cursor, and a page tells the
// cursor of the next one. Going back needs the cursors of the pages before, so the pager keeps
// that stack — never the rows — and a page costs the same at row 10 or row 100,000.

/** Where a paged list stands. */
export interface Pager {
  /** The cursors of the pages walked through: the last one names the page shown (null: first). */
  readonly trail: readonly (string | null)[];
  /** The next page's cursor, from the page shown (null: it is the last). */
  readonly next: string | null;
}

export const firstPage: Pager = { trail: [null], next: null };

/** The cursor of the page to load. */
export function cursorOf(pager: Pager): string | null {
  return pager.trail[pager.trail.length - 1] ?? null;
}

/** 1 for the first page. */
export function pageNumber(pager: Pager): number {
  return pager.trail.length;
}

/** The page shown has been loaded and names its successor. */
export function loaded(pager: Pager, nextCursor: string | null): Pager {
  return { trail: pager.trail, next: nextCursor };
}

export function hasNext(pager: Pager): boolean {
  return pager.next !== null;
}

export function hasPrevious(pager: Pager): boolean {
  return pager.trail.length > 1;
}

/** To the next page (unchanged on the last). */
export function forward(pager: Pager): Pager {
  return pager.next === null ? pager : { trail: [...pager.trail, pager.next], next: null };
}

/** To the previous page (unchanged on the first). */
export function back(pager: Pager): Pager {
  return pager.trail.length > 1 ? { trail: pager.trail.slice(0, -1), next: null } : pager;
}

/** `?a=1&b=x` of the non-empty values (a filter left blank is not sent: the API would refuse ""). */
export function queryString(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === null || value === undefined) continue;
    const text = String(value).trim();
    if (text !== "") q.set(name, text);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
