/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// In development (`npm run dev`), API calls go to the api-server on :8080.
export default defineConfig({
  plugins: [react()],
  build: {
    // The api-server serves these with a strict CSP: no inline scripts, so no module preload
    // polyfill injected inline.
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test-setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
