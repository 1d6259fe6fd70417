import { defineConfig } from 'vitest/config';

export default defineConfig({
  build: {
    target: 'es2022',
    // There are no dynamic imports, so the preload polyfill would be dead weight.
    modulePreload: { polyfill: false },
    // Inlined assets become data: URLs; keep every asset a file so the CSP
    // (`default-src 'self'`) never has to allow `data:`.
    assetsInlineLimit: 0,
  },
  server: {
    // `scripts/dev.sh` serves the api on :8080; proxying keeps requests
    // same-origin, as nginx does in production, so cookies and SSE just work.
    proxy: { '/api': { target: 'http://localhost:8080', changeOrigin: false } },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
});
