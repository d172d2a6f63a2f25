import { defineConfig } from 'vitest/config';

// The fault-injection suite: long scenarios that stop and stall the shared services one at a time.
export default defineConfig({
  test: {
    // The network suite (test/faults/net, root, network namespaces) runs with FAULTS_NET=1
    // (npm run test:faults:net): it finds two intermittent alerting faults still open (README).
    include: process.env.FAULTS_NET === '1' ? ['test/faults/net/**/*.test.ts'] : ['test/faults/**/*.test.ts'],
    exclude: process.env.FAULTS_NET === '1' ? ['node_modules/**'] : ['test/faults/net/**', 'node_modules/**'],
    // Drops the InfluxDB databases the run made (see the file).
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 600_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results-faults.json' }]] : ['default'],
  },
});
