import { defineConfig } from 'vitest/config';

/** Browser tests: Debian's Chromium driven by playwright-core. `npm run test:e2e`; CI installs Chromium first. */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    // Generous: a test must pass on a machine three times slower than this one, under a second suite.
    // Nothing waits for a fixed time; these bounds only stop a test that hangs.
    testTimeout: 300_000,
    hookTimeout: 600_000,
    env: { LOG_LEVEL: 'silent', HOTPATH_WORKERS: '1' },
  },
});
