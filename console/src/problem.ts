// What went wrong, in words an operator can act on: the API's RFC 9457 problem documents
// (`{"type","title","status","code","detail"}`), and the failures that never reached it.

/** A failed call, as the console shows it. */
export interface Problem {
  /** HTTP status; 0 when the request never got an answer. */
  status: number;
  /** The API's stable code (API.md "Error codes"), or `network` / `bad_response`. */
  code: string;
  /** The API's own sentence, shown as it is. */
  detail: string;
  /** Seconds to wait, from `Retry-After` (429). */
  retryAfter?: number;
}

/** Thrown by every API call that fails. */
export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(describe(problem));
    this.name = "ApiError";
  }
}

/** The problem of a non-2xx answer, from its body (a problem document, or anything else). */
export function problemOf(status: number, body: unknown, retryAfter?: string | null): Problem {
  const doc = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  const code = typeof doc.code === "string" && doc.code ? doc.code : `http_${status}`;
  const detail =
    typeof doc.detail === "string" && doc.detail
      ? doc.detail
      : typeof doc.title === "string" && doc.title
        ? doc.title
        : `The server answered ${status}.`;
  const problem: Problem = { status, code, detail };
  const seconds = retryAfter ? Number.parseInt(retryAfter, 10) : NaN;
  if (Number.isFinite(seconds) && seconds >= 0) problem.retryAfter = seconds;
  return problem;
}

/** The problem of a request that got no answer at all. */
export function networkProblem(): Problem {
  return { status: 0, code: "network", detail: "The server could not be reached. Check the connection and try again." };
}

/** A sentence for the operator: the API's detail, plus what to do when that is clear. */
export function describe(problem: Problem): string {
  const detail = sentence(problem.detail);
  switch (problem.code) {
    case "forbidden":
      return `${detail} Your roles do not allow this.`;
    case "unauthorized":
      return `${detail} Sign in again.`;
    case "rate_limited":
      return problem.retryAfter !== undefined
        ? `${detail} Try again in ${waitText(problem.retryAfter)}.`
        : `${detail} Try again later.`;
    case "unavailable":
      return `${detail} Nothing was changed.`;
    default:
      return detail;
  }
}

/** "12 s", "3 min", "2 h": how long to wait. */
export function waitText(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.ceil(seconds / 60)} min`;
  return `${Math.ceil(seconds / 3600)} h`;
}

/** Capitalised and ending with a full stop, as the API's details are lower-case phrases. */
function sentence(text: string): string {
  const t = text.trim();
  if (!t) return "Something went wrong.";
  const first = t[0]!.toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** The problem behind any thrown value (an ApiError's, else an unexpected failure's). */
export function problemFrom(error: unknown): Problem {
  if (error instanceof ApiError) return error.problem;
  return { status: 0, code: "client_error", detail: error instanceof Error ? error.message : String(error) };
}
