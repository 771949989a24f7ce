import { defineConfig } from 'vitest/config';

// The chaos suite (`npm run chaos`): faults against real nodes in child processes, one
// scenario file at a time (they kill, fill disks and mount tmpfs), apart from the unit tests.
// Disk-full scenarios mount tmpfs and need root. CHAOS_MESSAGES sizes the ingest runs.
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.chaos.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 30 * 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
