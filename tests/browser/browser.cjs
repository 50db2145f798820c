// What the browser tests share: Debian's Chromium through playwright-core
// (IMAGED_PLAYWRIGHT: the module; CHROMIUM: the browser), and a failed
// check as an exception with its reason.
'use strict';

const { chromium } = require(process.env.IMAGED_PLAYWRIGHT || 'playwright-core');

const TIMEOUT = 90_000;

function check(condition, what) {
  if (!condition) throw new Error(`${what}`);
}

// Waits, in node, until `condition()` holds; fails with `what` after TIMEOUT.
async function until(what, condition) {
  const end = Date.now() + TIMEOUT;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${TIMEOUT} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Runs `test(browser)` in a fresh headless Chromium, closes it, and exits
// non-zero with the stack of whatever failed.
function withChromium(test) {
  (async () => {
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--no-sandbox'],
      timeout: TIMEOUT,
    });
    try {
      await test(browser);
    } finally {
      await browser.close();
    }
  })().catch((err) => {
    console.error(err.stack || String(err));
    process.exit(1);
  });
}

module.exports = { TIMEOUT, check, until, withChromium };
