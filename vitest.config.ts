import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';

// Every test file runs twice: in Node and in headless Chromium (Debian's /usr/bin/chromium).
// Files named *.node.test.ts need Node APIs (files, MNIST) and run in Node only;
// *.browser.test.ts need a page (web workers) and run in Chromium only.
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export default defineConfig({
  test: {
    globalSetup: ['test/setup/parity-global.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.browser.test.ts'],
          globalSetup: ['test/setup/parity-global.ts'],
          testTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'chromium',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.node.test.ts'],
          globalSetup: ['test/setup/parity-global.ts'],
          testTimeout: 300_000,
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({
              launchOptions: {
                executablePath: chromium,
                args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync'],
              },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
