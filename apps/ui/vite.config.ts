// The dashboard is served by the api at /ui (apps/api/src/routes/ui.ts), from the same origin as the API it calls.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/ui/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The api's policy for /ui allows no inline script: no preload polyfill snippet.
    modulePreload: { polyfill: false },
    // ELK's layout engine is one 1.46 MB chunk of its own (graph-layout.ts imports it on first use): not worth a warning.
    chunkSizeWarningLimit: 1600,
  },
});
