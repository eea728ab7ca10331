import { defineConfig } from "vitest/config";

// The console in a real browser: Playwright (playwright-core) drives Debian's Chromium
// (/usr/bin/chromium, installed by `make chromium`; no browser is downloaded) against the
// test build under Miniflare, listening on 127.0.0.1 with the console's assets as
// wrangler.toml serves them (console.spec.ts), and a tenant's OAuth sign-in and consent pages
// (oauth-pages.spec.ts). `make test-console` runs them; `make console-screenshots` also
// writes the console's screenshots under docs/console/.
export default defineConfig({
  test: {
    include: ["tests/console/**/*.spec.ts"],
    pool: "forks",
    maxWorkers: 1,
    minWorkers: 1,
    // One story, step by step: the steps share the browser and the worker's state.
    sequence: { concurrent: false },
    hookTimeout: 120_000,
    testTimeout: 60_000,
    // A browser step waits for the page (a heading, a row) by polling: 1 s, vitest's default,
    // is too short on a loaded 2-core machine; the wait ends as soon as the page is there.
    expect: { poll: { timeout: 10_000 } },
    reporters: ["default"],
  },
});
