import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The consumer tests (npm pack + fresh CDK apps, minutes of npm installs) run in `npm run test:package`
    // (a step of .ci/run), not in every `npm test`.
    exclude: process.env.MIGRATOR_PACKAGE_TESTS ? [] : ['test/package/**'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Database tests are I/O bound; two cores run two files at a time comfortably.
    pool: 'forks',
    maxWorkers: 2,
  },
});
