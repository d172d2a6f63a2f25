import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Integration tests (real services) are named *.int.test.ts: TRIBUTARY_TESTS=unit leaves them out
    // (npm run test:unit), TRIBUTARY_TESTS=integration runs only them; npm test runs both.
    include: [process.env.TRIBUTARY_TESTS === 'integration' ? 'test/**/*.int.test.ts' : 'test/**/*.test.ts'],
    // The fault-injection suite has its own config and command (npm run test:faults).
    exclude: [
      'test/faults/**',
      'node_modules/**',
      ...(process.env.TRIBUTARY_TESTS === 'unit' ? ['test/**/*.int.test.ts'] : []),
    ],
    // Integration tests run against real Mosquitto / Redis / InfluxDB
    // (scripts/services.sh), including broker and database restarts.
    // Drops the InfluxDB databases the run made (see the file).
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Test files share those services on a 2-core box: run files one at a time.
    fileParallelism: false,
    // In CI also write a machine-readable report; .ci/run summarises it.
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results.json' }]] : ['default'],
  },
});
