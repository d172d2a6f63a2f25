import { defineConfig } from 'vitest/config';

// The fault-injection suite: long scenarios that stop and stall the shared services one at a time.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    // Drops the InfluxDB databases the run made (see the file).
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 600_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results-faults.json' }]] : ['default'],
  },
});
