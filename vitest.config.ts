import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', '**/node_modules/**'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    // Each file gets its own database cloned from a migrated template, so files run in parallel.
    maxWorkers: 3,
    // Generous: a test must pass on a machine three times slower than this one, under a second suite.
    // Nothing waits for a fixed time; these bounds only stop a test that hangs.
    testTimeout: 300_000,
    hookTimeout: 600_000,
    // One process per `serve` the tests start; the cluster has its own test, which asks for two.
    env: { LOG_LEVEL: 'silent', HOTPATH_WORKERS: '1' },
  },
});
