import { defineConfig } from "vitest/config";

// End-to-end specs: each file starts its own Miniflare (workerd) running build/ — see
// tests/e2e/harness.ts. Build first (`make test-e2e` does). The adversarial specs
// (tests/adversarial/, bounded unless TESSERA_SECURITY=full) run here too; a spec that
// demonstrates a hole still being fixed would go in tests/adversarial/holes/, run only by
// `make test-security` (vitest.security.config.ts; none today).
export default defineConfig({
  test: {
    include: ["tests/e2e/**/*.spec.ts", "tests/adversarial/*.spec.ts"],
    // Each spec file runs in its own process with its own workerd; two at a time fits 2 cores.
    pool: "forks",
    maxWorkers: 2,
    minWorkers: 1,
    // Starting workerd and compiling the wasm takes a few seconds on a cold machine.
    hookTimeout: 120_000,
    testTimeout: 30_000,
    reporters: ["default"],
  },
});
