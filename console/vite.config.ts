// Builds the console into dist/console/ — the directory wrangler.toml's [assets] serves, so
// the page is /console/ and every other file /console/assets/<name>-<hash>.<ext>, the only
// paths the worker's route table admits. What the worker's CSP demands of the build: no
// inline script or style, no data: URL (assetsInlineLimit 0), no module-preload polyfill (an
// inline-free, modern-only page), nothing from another origin.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/console/",
  build: {
    outDir: "dist/console",
    emptyOutDir: true,
    assetsDir: "assets",
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: false,
  },
});
