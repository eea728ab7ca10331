// The console's unit tests: its own logic (paging, error wording, the permission mirror,
// merge patches, routes) in plain Node, no browser. The browser run is tests/console/ at the
// repository's root.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});
