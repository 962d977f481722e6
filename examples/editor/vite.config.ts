import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';

// The dev server proxies /api to a running chorus-server (CHORUS_SERVER, default :8080), so
// `npm run dev` works against the real API with cookies on the same origin.
export default defineConfig({
  plugins: [react(), tailwindcss()],
  base: './',
  server: {
    proxy: { '/api': process.env.CHORUS_SERVER ?? 'http://127.0.0.1:8080' },
  },
  build: { outDir: 'dist', sourcemap: true, chunkSizeWarningLimit: 2000 },
  test: {
    environment: 'node',
    include: ['tests/**/*.test.ts', 'tests/**/*.test.tsx'],
  },
});
