// The gallery over 10,000 images in headless Chromium, on a desktop window
// and a phone screen: how many API requests a first visit makes and how
// soon its first thumbnails are in; that an open tab then asks nothing
// while nothing changes; that scrolling pages on while the page keeps only
// the cards near the screen; that eight tabs open at once all load; and
// that an upload in one tab appears in the others, pushed by /api/events.
//
// node scale.cjs BASE_URL TOTAL PHOTO
// Prints one JSON line per screen with what it measured.
// IMAGED_PLAYWRIGHT: the playwright-core module; CHROMIUM: the browser.
'use strict';

const fs = require('fs');
const { TIMEOUT, check, until, withChromium } = require('./browser.cjs');

const [base, total, photo] = process.argv.slice(2).map((a, i) => (i === 1 ? Number(a) : a));
const PAGE = 48; // gallery.js's page
const PAGES_SCROLLED = 6;
const QUIET_MS = 3000; // an idle tab is watched this long for requests
const MORE_TABS = 6; // beside the first two: eight in all

const SCREENS = [
  { name: 'desktop', viewport: { width: 1280, height: 900 } },
  { name: 'phone', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 3 },
];

// The page's own requests to the API (fetch, and the event stream), not
// its images' loads; and how many reads of the list have finished.
function recorder(page) {
  const seen = { api: [], lists: 0 };
  page.on('request', (r) => {
    if (['fetch', 'xhr', 'eventsource'].includes(r.resourceType())) seen.api.push(new URL(r.url()));
  });
  page.on('requestfinished', (r) => { seen.lists += Number(new URL(r.url()).pathname === '/api/images'); });
  return seen;
}

// A page is settled once it has read its first page twice: at once, and
// when its stream said where it starts.
const settled = (seen) => until('the first page read twice', () => seen.lists >= 2);

const shown = (page) => page.$$eval('#grid li', (all) => all.map((li) => Number(li.dataset.id)));
const loaded = (page) => page.$eval('#count', (c) => Number((c.textContent.match(/\d+/) || ['0'])[0]));

async function run(browser, screen) {
  const { name, ...options } = screen;
  const context = await browser.newContext(options);
  const problems = [];
  const [a, b] = [await context.newPage(), await context.newPage()];
  for (const page of [a, b]) page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  const seen = recorder(a);
  const seenB = recorder(b);

  // A first visit: the first page of cards, their thumbnails, the stream.
  await a.goto(base, { waitUntil: 'load' });
  await a.waitForFunction(() => [...document.querySelectorAll('#grid img')].some((i) => i.complete && i.naturalWidth > 0),
    null, { timeout: TIMEOUT });
  const firstThumbnailMs = await a.evaluate(() => Math.min(...performance.getEntriesByType('resource')
    .filter((e) => e.name.includes('/thumbnail/')).map((e) => e.responseEnd)));
  await a.waitForFunction(() => [...document.querySelectorAll('#grid img')]
    .filter((i) => i.getBoundingClientRect().top < innerHeight).every((i) => i.complete && i.naturalWidth > 0),
  null, { timeout: TIMEOUT });
  const screenfulMs = await a.evaluate(() => performance.now());
  await settled(seen);
  check((await loaded(a)) === PAGE, `first visit shows ${await loaded(a)} cards, not one page`);
  // The tabs' shared worker opens the stream, which playwright does not
  // see: the page says it is open, and it counts as one request.
  check((await a.evaluate(() => document.documentElement.dataset.events)) === 'open', 'the page follows /api/events');
  const firstVisit = seen.api.length + 1;
  check(firstVisit <= 10, `a first visit made ${firstVisit} API requests: ${seen.api.map((u) => u.pathname + u.search)}`);
  check(seen.api.every((u) => u.pathname === '/api/images'), 'only lists besides the stream');

  // Nothing changes: nothing is asked.
  await b.goto(base, { waitUntil: 'load' });
  await settled(seenB);
  const before = [seen.api.length, seenB.api.length];
  await a.waitForTimeout(QUIET_MS);
  const idle = seen.api.length - before[0] + seenB.api.length - before[1];
  check(idle === 0, `${idle} API requests from two idle tabs in ${QUIET_MS} ms`);

  // Scrolling brings a page at a time; the page holds only the cards
  // near the screen, placed where the whole list would have them.
  for (let pages = 2; pages <= PAGES_SCROLLED; pages += 1) {
    await a.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    await a.waitForFunction((n) => Number((document.querySelector('#count').textContent.match(/\d+/) || ['0'])[0]) >= n,
      pages * PAGE, { timeout: TIMEOUT });
  }
  const cursors = seen.api.filter((u) => u.searchParams.has('cursor')).length;
  check(cursors === PAGES_SCROLLED - 1, `${cursors} requests for ${PAGES_SCROLLED - 1} more pages`);
  await a.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight - innerHeight - 700));
  // Placed at the next frame: the cards in the page reach past both
  // edges of the screen.
  const covered = () => {
    const cards = document.querySelectorAll('#grid li');
    return cards.length > 0 && cards[0].getBoundingClientRect().top <= 0
      && cards[cards.length - 1].getBoundingClientRect().bottom >= innerHeight;
  };
  await a.waitForFunction(covered, null, { timeout: TIMEOUT });
  const placed = await a.evaluate(() => {
    const cards = document.querySelectorAll('#grid li');
    return { cards: cards.length, first: Number(cards[0].getAttribute('aria-posinset')) };
  });
  const domCards = placed.cards;
  check(domCards < 2 * PAGE && placed.first > PAGE, `${domCards} cards in the page from #${placed.first}: not just those near the screen`);
  const ids = await shown(a);
  check(ids.every((id, i) => i === 0 || id < ids[i - 1]), 'newest first');
  await a.evaluate(() => window.scrollTo(0, 0));

  // More tabs than a browser opens connections to a host over HTTP/1.1
  // (six): they share one stream, so each still loads.
  const more = [];
  for (let i = 0; i < MORE_TABS; i += 1) {
    const tab = await context.newPage();
    tab.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    await tab.goto(base, { waitUntil: 'load', timeout: TIMEOUT });
    await tab.waitForFunction(() => document.querySelectorAll('#grid li').length > 0, null, { timeout: TIMEOUT });
    more.push(tab);
  }
  const last = more[more.length - 1];

  // An upload in one tab (through CloudX's route, as a CloudX page did, so
  // that it goes the same way on every store) appears in the other, which
  // never polls.
  const newest = Math.max(...(await shown(b)));
  const beforeB = seenB.api.length;
  await a.evaluate(async (base64) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const form = new FormData();
    form.append('upfile', new Blob([bytes], { type: 'image/jpeg' }), 'new.jpg');
    const response = await fetch('/api/image', { method: 'POST', body: form });
    if (!response.ok) throw new Error(`upload: ${response.status} ${await response.text()}`);
  }, fs.readFileSync(photo).toString('base64'));
  const uploaded = Date.now();
  await b.waitForFunction((n) => Number(document.querySelector('#grid li').dataset.id) > n, newest, { timeout: TIMEOUT });
  const crossTabMs = Date.now() - uploaded;
  await b.waitForFunction(() => document.querySelector('#grid li').dataset.status === 'done', null, { timeout: TIMEOUT });
  await last.waitForFunction((n) => Number(document.querySelector('#grid li').dataset.id) > n, newest, { timeout: TIMEOUT });
  const pushed = seenB.api.slice(beforeB);
  check(pushed.every((u) => u.pathname === '/api/images' && !u.searchParams.has('cursor')),
    `the other tab asked ${pushed.map((u) => u.pathname + u.search)}`);

  check(problems.length === 0, problems.join('; '));
  await context.close();
  return {
    name, total, firstVisitRequests: firstVisit, firstThumbnailMs: Math.round(firstThumbnailMs),
    screenfulMs: Math.round(screenfulMs), idleRequests: idle, domCards, loaded: PAGES_SCROLLED * PAGE,
    crossTabMs, otherTabRequests: pushed.length,
  };
}

withChromium(async (browser) => {
  for (const screen of SCREENS) console.log(JSON.stringify(await run(browser, screen)));
});
