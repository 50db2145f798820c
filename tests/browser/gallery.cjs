// Drives the gallery page in headless Chromium through Playwright, as a
// user would: upload a JPEG through the file input, wait for its thumbnail
// in the grid (served as WebP), open the detail view, delete the image. Once on a desktop
// window and once on a 390 px wide phone screen; screenshots of each step.
//
// node gallery.cjs BASE_URL IMAGE OUT_DIR SIZES
// IMAGED_PLAYWRIGHT: the playwright-core module; CHROMIUM: the browser.
'use strict';

const path = require('path');
const { TIMEOUT, check, withChromium } = require('./browser.cjs');

const [base, image, outDir, sizes] = process.argv.slice(2);
const expectedVariants = Number(sizes);

const viewports = [
  { name: 'desktop', viewport: { width: 1280, height: 900 } },
  { name: 'phone', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
];

async function run(browser, { name, ...options }) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  // A 404 for the image just deleted is the page catching up; a 5xx never is.
  page.on('response', (r) => r.status() >= 500 && problems.push(`${r.status()} from ${r.url()}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push(`console: ${msg.text()}`);
  });
  page.on('dialog', (dialog) => dialog.accept());
  // The type of every thumbnail the page loads: Chromium accepts WebP.
  const thumbnailTypes = [];
  page.on('response', (r) => r.url().includes('/thumbnail/') && thumbnailTypes.push(r.headers()['content-type']));
  const shot = (step) => page.screenshot({ path: path.join(outDir, `${name}-${step}.png`), fullPage: true });

  await page.goto(base, { waitUntil: 'load' });
  const unlabelled = await page.$$eval('input', (inputs) => inputs.filter((i) => !i.labels.length).map((i) => i.id));
  check(unlabelled.length === 0, `inputs without a label: ${unlabelled}`);
  await page.waitForSelector('#empty:not([hidden])', { timeout: TIMEOUT });

  await page.setInputFiles('#file-input', image);
  const cell = page.locator('#grid li[data-status="done"]');
  await cell.first().waitFor({ timeout: TIMEOUT });
  await page.waitForFunction(() => {
    const img = document.querySelector('#grid li[data-status="done"] img');
    return img && img.complete && img.naturalWidth > 0;
  }, null, { timeout: TIMEOUT });
  check((await page.locator('#grid li').count()) === 1, 'one image in the grid');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the page is ${overflow} px wider than the screen`);
  await shot('grid');

  // The phone run opens the detail view from the keyboard.
  if (name === 'phone') {
    await page.focus('#grid li button');
    await page.keyboard.press('Enter');
  } else {
    await page.click('#grid li button');
  }
  await page.waitForSelector('#detail[open]', { timeout: TIMEOUT });
  await page.waitForFunction((n) => {
    const imgs = [...document.querySelectorAll('#detail-variants img')];
    return imgs.length === n && imgs.every((img) => img.complete && img.naturalWidth > 0);
  }, expectedVariants, { timeout: TIMEOUT });
  const id = await page.$eval('#detail-meta dd', (dd) => dd.textContent);
  const href = await page.getAttribute('#detail-download', 'href');
  check(href === `/api/image/file/${id}`, `download link ${href} for image ${id}`);
  const original = await page.evaluate(async (url) => (await fetch(url)).status, href);
  check(original === 200, `the download link answers ${original}`);
  await shot('detail');
  check(thumbnailTypes.length > 0 && thumbnailTypes.every((t) => t === 'image/webp'),
    `thumbnails served as ${thumbnailTypes}, not all image/webp`);
  const captions = await page.$$eval('#detail-variants figcaption', (cs) => cs.map((c) => c.textContent));
  check(captions.every((c) => c.includes('JPEG') && c.includes('WEBP')), `captions without both formats: ${captions}`);

  await page.click('#detail-delete');
  await page.waitForFunction(() => !document.getElementById('detail').open, null, { timeout: TIMEOUT });
  await page.waitForFunction(() => !document.querySelector('#grid li'), null, { timeout: TIMEOUT });
  check(await page.isVisible('#empty'), 'the page says there are no images');
  const listed = await page.evaluate(async () => (await fetch('/api/image')).json());
  check(listed.length === 0, `the API still lists ${listed.length} images`);
  await shot('deleted');

  check(problems.length === 0, problems.join('; '));
  await context.close();
  return { name, id: Number(id) };
}

withChromium(async (browser) => {
  for (const options of viewports) {
    const result = await run(browser, options);
    console.log(JSON.stringify(result));
  }
});
