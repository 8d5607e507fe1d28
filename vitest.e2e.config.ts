import { defineConfig } from 'vitest/config';

/** Browser tests: Debian's Chromium driven by playwright-core. `npm run test:e2e`; CI installs Chromium first. */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    env: { LOG_LEVEL: 'silent' },
  },
});
