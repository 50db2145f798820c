// The imaged gallery: uploads (through /api/image/upload_url, so on S3 the
// bytes go straight to the bucket), a grid filled a page of /api/images at
// a time as it scrolls, with only the cards near the screen in the page,
// kept current by /api/events; a detail view, delete, and the e-mail
// subscription. Plain DOM, no framework.
'use strict';

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000; // the newest page read again while /api/events is down
const PAGE = 48; // cards a page of /api/images brings
const GRID_SIZE = 256; // the thumbnail shown in the grid: the smallest at least this large
const images = new Map(); // id -> an item of /api/images

function token() {
  return sessionStorage.getItem('imaged-token') || '';
}

function authHeaders() {
  return token() ? { Authorization: `Bearer ${token()}` } : {};
}

// Why a response failed, in the words imaged gave.
function reasonOf(status, body) {
  if (body && typeof body === 'object' && body.detail) return body.detail;
  if (typeof body === 'string' && body) return body;
  return `HTTP ${status}`;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  const type = response.headers.get('content-type') || '';
  const body = type.includes('json') ? await response.json() : await response.text();
  if (!response.ok) throw new Error(reasonOf(response.status, body));
  return body;
}

function fileName(key) {
  const last = key.split('/').pop();
  return /^[0-9a-f-]{36}-/.test(last) ? last.slice(37) : last;
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

// ---- uploads

function uploadItem(name) {
  const bar = element('progress', { max: 1, value: 0 });
  bar.setAttribute('aria-label', `Uploading ${name}`);
  const percent = element('span', { textContent: '0 %' });
  const li = element('li', {}, element('span', { textContent: name }), percent, bar);
  $('uploads').prepend(li);
  return {
    progress(fraction) {
      bar.value = fraction;
      percent.textContent = `${Math.round(fraction * 100)} %`;
    },
    done() {
      bar.value = 1;
      percent.textContent = 'uploaded';
      setTimeout(() => li.remove(), 4000);
    },
    fail(reason) {
      bar.remove();
      percent.textContent = 'failed';
      li.append(element('span', { className: 'error', textContent: reason }));
    },
  };
}

function put(grant, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(grant.method, grant.url);
    for (const [name, value] of Object.entries(grant.headers)) {
      // The browser sets these itself (and refuses to be told).
      if (!['content-length', 'host'].includes(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      let body = xhr.responseText;
      try { body = JSON.parse(body); } catch (_) { /* text */ }
      reject(new Error(reasonOf(xhr.status, body)));
    };
    xhr.onerror = () => reject(new Error(`the upload could not reach ${new URL(grant.url).host}`));
    xhr.send(file);
  });
}

async function upload(file) {
  const item = uploadItem(file.name);
  try {
    const query = new URLSearchParams({ filename: file.name, content_type: file.type, size: String(file.size) });
    const grant = await api(`/api/image/upload_url?${query}`);
    await put(grant, file, item.progress);
    item.done();
    if (polling) refresh(); // else /api/events says when it is in
  } catch (err) {
    item.fail(err.message);
  }
}

function uploadAll(files) {
  for (const file of files) upload(file);
}

// ---- the grid

// What a card shows, in one string: a card is rebuilt only when it changes.
function cardKey(item) {
  return `${item.status}|${item.thumbnail ? item.thumbnail.url : ''}|${item.error || ''}`;
}

function stateText(item) {
  if (item.status === 'failed') return `failed: ${item.error || 'no reason given'}`;
  return item.status;
}

function card(item) {
  const name = fileName(item.object_key);
  const thumb = item.status === 'done' ? item.thumbnail : null;
  const frame = element('span', { className: 'frame' });
  // Its size is known before it loads: nothing moves when it does.
  frame.append(thumb
    ? element('img', { src: thumb.url, alt: '', width: thumb.width, height: thumb.height, loading: 'lazy' })
    : element('span', { textContent: item.status }));
  const button = element('button', { type: 'button', className: 'card', title: `${name}\n${stateText(item)}` }, frame,
    element('span', { className: 'name', textContent: name }),
    element('span', { className: `state ${item.status}`, textContent: stateText(item) }));
  button.setAttribute('aria-label', `${name}, ${stateText(item)}: open details`);
  button.addEventListener('click', () => openDetail(item.id));
  const li = element('li', {}, button);
  li.dataset.id = item.id;
  li.dataset.status = item.status;
  li.dataset.key = cardKey(item);
  return li;
}

let order = []; // the ids of `images`, newest first

function changedImages() {
  order = [...images.keys()].sort((a, b) => b - a);
  render();
}

// Only the cards near the screen are in the page; padding above and below
// the grid stands for the rest, so it scrolls as if all were there. Every
// card has the same height (one line of name, one of state).
const NEAR_ROWS = 4; // rows kept beyond each edge of the screen
let rowHeight = 0; // of a card and the gap below it; 0 until one is measured

function columns(grid) {
  return Math.max(1, getComputedStyle(grid).gridTemplateColumns.split(' ').filter(Boolean).length);
}

function shownRange(grid, cols) {
  if (!rowHeight) return [0, Math.min(order.length, PAGE)];
  const top = grid.getBoundingClientRect().top + window.scrollY;
  const first = Math.max(0, Math.floor((window.scrollY - top) / rowHeight) - NEAR_ROWS);
  const last = Math.ceil((window.scrollY + window.innerHeight - top) / rowHeight) + NEAR_ROWS;
  return [Math.min(order.length, first * cols), Math.min(order.length, last * cols)];
}

// A card's height and the gap below it, from a card in the page.
function measure(grid) {
  if (rowHeight || !grid.firstElementChild) return;
  rowHeight = grid.firstElementChild.getBoundingClientRect().height + (parseFloat(getComputedStyle(grid).rowGap) || 0);
}

function render() {
  const grid = $('grid');
  measure(grid);
  const cols = columns(grid);
  const [from, to] = shownRange(grid, cols);
  const existing = new Map([...grid.children].map((li) => [Number(li.dataset.id), li]));
  order.slice(from, to).forEach((id, offset) => {
    const item = images.get(id);
    let li = existing.get(id);
    if (!li || li.dataset.key !== cardKey(item)) {
      const fresh = card(item);
      const focused = li && li.contains(document.activeElement);
      if (li) li.replaceWith(fresh); else grid.append(fresh);
      if (focused) fresh.querySelector('button').focus();
      li = fresh;
    }
    li.setAttribute('aria-posinset', String(from + offset + 1));
    li.setAttribute('aria-setsize', next ? '-1' : String(order.length));
    if (grid.children[offset] !== li) grid.insertBefore(li, grid.children[offset]);
    existing.delete(id);
  });
  for (const li of existing.values()) li.remove();
  if (!rowHeight && grid.firstElementChild) {
    measure(grid); // the first cards are in: the rest are placed by them
    if (rowHeight) return render();
  }
  const rows = (n) => Math.ceil(n / cols) * rowHeight;
  grid.style.paddingTop = `${rows(from)}px`;
  grid.style.paddingBottom = `${rows(order.length) - rows(to)}px`;
  $('empty').hidden = order.length > 0 || next === undefined;
  $('count').textContent = order.length ? `(${order.length}${next ? '+' : ''})` : '';
}

let drawing = false;
function redraw() {
  if (drawing) return;
  drawing = true;
  requestAnimationFrame(() => { drawing = false; render(); });
}

// One page of /api/images: the cards' rows, jobs and thumbnails at once.
function pageQuery(cursor, limit = PAGE) {
  const query = new URLSearchParams({ limit: String(limit), thumbnail: String(GRID_SIZE) });
  if (filter()) query.set('status', filter());
  if (cursor) query.set('cursor', cursor);
  return `/api/images?${query}`;
}

function filter() {
  return $('status-filter').value;
}

let generation = 0; // a read that a newer one (or a change of filter) overtook drops what it read
let next; // the cursor of the page after those shown; null after the last; undefined before the first

// The newest page again: new images, and changes to those on it. Images
// older than it keep what they showed, unless it had room for them and
// they are gone (deleted, or out of the filter).
async function refresh() {
  const mine = ++generation;
  try {
    const page = await api(pageQuery(null));
    if (mine !== generation) return;
    const shown = new Set(page.images.map((item) => item.id));
    const oldest = page.next === null ? -Infinity : Math.min(...shown);
    for (const id of [...images.keys()]) if (id >= oldest && !shown.has(id)) images.delete(id);
    for (const item of page.images) images.set(item.id, item);
    newestPage = oldest;
    if (next === undefined || (page.next === null && images.size === page.images.length)) next = page.next;
    changedImages();
    watchTheEnd();
  } catch (err) {
    $('count').textContent = `(could not refresh: ${err.message})`;
  }
}

// The page after those shown, when the end of the grid comes into view.
let fetching = false;
async function more() {
  if (!next || fetching) return;
  const mine = generation;
  fetching = true;
  try {
    const page = await api(pageQuery(next));
    if (mine !== generation) return;
    for (const item of page.images) images.set(item.id, item);
    next = page.next;
    changedImages();
    watchTheEnd();
  } catch (err) {
    $('count').textContent = `(could not load more: ${err.message})`;
  } finally {
    fetching = false;
  }
}

// Loads the next page while the end of the grid is near the screen. An
// observer reports only changes: watching again reports where it is now.
const theEnd = new IntersectionObserver((seen) => seen.some((e) => e.isIntersecting) && more(), { rootMargin: '600px' });
function watchTheEnd() {
  theEnd.unobserve($('more'));
  theEnd.observe($('more'));
}

function restart() {
  generation += 1;
  images.clear();
  next = undefined;
  changedImages();
  refresh();
}

// ---- pushed changes

// /api/events says when an image changes; the page then reads the newest
// page again (new images, and changes to those on it), or the one card
// that changed further down. Nothing is read while nothing changes. While
// the stream is down, the newest page is read every few seconds instead.
let newestPage = Infinity; // the oldest id the newest page holds
const due = new Set(); // ids changed further down than the newest page
let dueNewest = false;
let flushing = null;

function changed(change) {
  const id = change.image_id;
  if (change.status === 'deleted') {
    if (images.delete(id)) changedImages();
    return;
  }
  if (id >= newestPage || !order.length) dueNewest = true;
  else if (images.has(id)) due.add(id);
  else return;
  flushing = flushing || setTimeout(flush, 100);
}

async function flush() {
  flushing = null;
  if (dueNewest) {
    dueNewest = false;
    refresh();
  }
  const ids = [...due];
  due.clear();
  for (const id of ids) {
    try {
      const page = await api(pageQuery(String(id + 1), 1));
      const item = page.images.find((i) => i.id === id);
      if (item) images.set(id, item); else images.delete(id);
      changedImages();
    } catch (err) {
      $('count').textContent = `(could not refresh: ${err.message})`;
    }
  }
}

let polling = null;
function poll(on) {
  if (on && !polling) polling = setInterval(() => document.visibilityState === 'visible' && refresh(), POLL_MS);
  if (!on && polling) polling = clearInterval(polling) || null;
}

// What the stream says, from the worker that holds it (events.js): shared
// by every tab where the browser can, else this tab's own.
function heard(type, data) {
  if (type === 'open' || type === 'down') document.documentElement.dataset.events = type;
  if (type === 'open') poll(false);
  else if (type === 'down') poll(true);
  // A new stream starts after the change it names: what the first read
  // missed is read once more.
  else if (type === 'ready') refresh();
  else if (type === 'image') changed(JSON.parse(data));
  else if (type === 'reset') restart();
}

function follow() {
  const script = '/assets/gallery-events.js';
  const worker = typeof SharedWorker === 'function' ? new SharedWorker(script) : new Worker(script);
  const port = worker.port || worker;
  port.onmessage = (m) => heard(m.data.type, m.data.data);
  if (worker.port) port.start();
  // Gone, or into the back-forward cache (pageshow follows again).
  window.addEventListener('pagehide', () => (worker.port ? port.postMessage('bye') : worker.terminate()), { once: true });
}

// ---- the detail view

async function openDetail(id) {
  const row = images.get(id);
  let job = null;
  try {
    job = await api(`/api/image/${id}/thumbnails`);
  } catch (err) {
    $('count').textContent = `(could not open image ${id}: ${err.message})`;
    return;
  }
  const name = fileName(row.object_key);
  $('detail-title').textContent = name;
  const meta = $('detail-meta');
  meta.replaceChildren();
  const facts = [
    ['Id', row.id], ['Object key', row.object_key], ['Size', bytes(row.object_size)],
    ['Type', job.content_type || row.object_type], ['Stored type', row.object_type],
    ['Last modified', row.last_modified], ['Status', stateText(job)],
  ];
  for (const [term, value] of facts) meta.append(element('dt', { textContent: term }), element('dd', { textContent: String(value) }));
  const variants = $('detail-variants');
  variants.replaceChildren();
  for (const t of job.thumbnails || []) {
    const img = element('img', { src: t.url, alt: `${name}, ${t.width}×${t.height}`, width: t.width, height: t.height, loading: 'lazy' });
    const formats = (t.formats || []).map((f) => `${f.format.toUpperCase()} ${bytes(f.object_size)}`).join(', ');
    const caption = element('figcaption', { textContent: `${t.size}: ${t.width}×${t.height}, ${formats || bytes(t.object_size)}` });
    variants.append(element('li', {}, element('figure', {}, img, caption)));
  }
  if (!variants.children.length) variants.append(element('li', { textContent: 'None yet.' }));
  const download = $('detail-download');
  download.href = `/api/image/file/${id}`;
  download.setAttribute('download', name);
  $('detail-delete').onclick = () => remove(id, name);
  $('detail-status').textContent = '';
  $('detail').showModal();
}

async function remove(id, name) {
  if (!confirm(`Delete ${name} and its thumbnails?`)) return;
  try {
    await api(`/api/image/${id}`, { method: 'DELETE' });
    $('detail').close();
    if (images.delete(id)) changedImages();
  } catch (err) {
    $('detail-status').textContent = `Could not delete: ${err.message}`;
  }
}

// ---- e-mail notices

async function subscription(method) {
  const input = $('email-input');
  if (!input.reportValidity()) return;
  try {
    const said = await api(`/api/notification/${encodeURIComponent(input.value)}`, { method });
    $('subscribe-result').textContent = said;
  } catch (err) {
    $('subscribe-result').textContent = err.message;
  }
}

// ---- wiring

function start() {
  const form = $('upload-form');
  const input = $('file-input');
  form.addEventListener('submit', (e) => { e.preventDefault(); uploadAll(input.files); });
  input.addEventListener('change', () => { uploadAll(input.files); input.value = ''; });
  for (const name of ['dragenter', 'dragover']) {
    form.addEventListener(name, (e) => { e.preventDefault(); form.classList.add('over'); });
  }
  for (const name of ['dragleave', 'drop']) {
    form.addEventListener(name, () => form.classList.remove('over'));
  }
  form.addEventListener('drop', (e) => { e.preventDefault(); uploadAll(e.dataTransfer.files); });

  const tokenInput = $('token-input');
  tokenInput.value = token();
  tokenInput.addEventListener('change', () => sessionStorage.setItem('imaged-token', tokenInput.value.trim()));

  $('subscribe-form').addEventListener('submit', (e) => { e.preventDefault(); subscription('POST'); });
  $('unsubscribe').addEventListener('click', () => subscription('DELETE'));
  $('detail-close').addEventListener('click', () => $('detail').close());

  $('status-filter').addEventListener('change', restart);

  // Back from the back-forward cache: it said goodbye to the worker.
  window.addEventListener('pageshow', (e) => e.persisted && follow());
  window.addEventListener('scroll', redraw, { passive: true });
  window.addEventListener('resize', () => { rowHeight = 0; redraw(); });

  refresh();
  follow();
}

start();
