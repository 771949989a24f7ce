import { defineConfig } from 'vitest/config';

// Two cores: a few forks at a time; e2e files start real servers, so give them time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 3,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
