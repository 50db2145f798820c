// The gallery over more images than one page holds, in headless Chromium:
// the first page of cards from one request, the next as the end of the
// grid comes into view, the status filter, no request per image, and a
// read of the newest page every 2 s when the event stream is refused.
//
// node paging.cjs BASE_URL COUNT FAILED
// IMAGED_PLAYWRIGHT: the playwright-core module; CHROMIUM: the browser.
'use strict';

const { TIMEOUT, check, until, withChromium } = require('./browser.cjs');

const [base, count, failed] = process.argv.slice(2).map((a, i) => (i ? Number(a) : a));
const PAGE = 48; // gallery.js's page

withChromium(async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  // The page's own requests (fetch), not its images' loads.
  const api = [];
  page.on('request', (r) => r.resourceType() === 'fetch' && api.push(new URL(r.url())));
  const cards = () => page.locator('#grid li').count();
  // How many the page has loaded (the grid holds only those near the screen).
  const loaded = (n) => page.waitForFunction((want) => document.querySelector('#count').textContent === want, n,
    { timeout: TIMEOUT });

  await page.goto(base, { waitUntil: 'load' });
  await loaded(`(${PAGE}+)`);
  // Only pages of /api/images: never a request per image.
  check(api.every((u) => u.pathname === '/api/images'), `other API requests: ${api.map((u) => u.pathname)}`);
  const imgs = await page.$$eval('#grid img', (all) => all.map((i) => [i.loading, i.getAttribute('width'), i.getAttribute('height')]));
  check(imgs.length > 0 && imgs.every(([loading, w, h]) => loading === 'lazy' && Number(w) > 0 && Number(h) > 0),
    `cards' images without loading=lazy, width or height: ${JSON.stringify(imgs.slice(0, 3))}`);

  await page.locator('#more').scrollIntoViewIfNeeded();
  await loaded(`(${count})`);
  const ids = await page.$$eval('#grid li', (all) => all.map((li) => Number(li.dataset.id)));
  check(ids.every((id, i) => i === 0 || id < ids[i - 1]), `cards not newest first: ${ids}`);
  check(api.every((u) => u.pathname === '/api/images'), `other API requests: ${api.map((u) => u.pathname)}`);
  const later = api.filter((u) => u.searchParams.has('cursor'));
  check(later.length === 1, `${later.length} requests for the second (and last) page`);

  await page.selectOption('#status-filter', 'failed');
  await page.waitForFunction((n) => document.querySelectorAll('#grid li').length === n, failed, { timeout: TIMEOUT });
  const states = await page.$$eval('#grid li', (all) => all.map((li) => li.dataset.status));
  check(states.every((s) => s === 'failed'), `the failed filter shows ${states}`);
  check((await cards()) === failed, 'only the failed');

  // Without the stream (a host refusing it: 503), the page reads its
  // newest page every 2 s instead. This page's stream is its own worker's,
  // as on a browser without shared workers (Chrome on Android).
  const offline = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await offline.addInitScript(() => { delete window.SharedWorker; });
  offline.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  await offline.route('**/api/events', (route) => route.fulfill({ status: 503, body: 'too many streams' }));
  const reads = [];
  offline.on('requestfinished', (r) => r.resourceType() === 'fetch' && reads.push(new URL(r.url())));
  await offline.goto(base, { waitUntil: 'load' });
  await offline.waitForFunction(() => document.querySelectorAll('#grid img').length > 0, null, { timeout: TIMEOUT });
  await until('without the stream, three reads of the newest page', () => reads.length >= 3);
  check(reads.every((u) => u.pathname === '/api/images' && !u.searchParams.has('cursor')),
    `without the stream: ${reads.map((u) => u.pathname + u.search)}`);
  check((await offline.evaluate(() => document.documentElement.dataset.events)) === 'down', 'the page knows the stream is down');

  check(problems.length === 0, problems.join('; '));
  console.log(JSON.stringify({ cards: count, requests: api.length }));
});
