// The imaged gallery: uploads (through /api/image/upload_url, so on S3 the
// bytes go straight to the bucket), a grid filled a page of /api/images at
// a time as it scrolls (the newest page read again every 2 s, one
// request), a detail view, delete, and the e-mail subscription. Plain DOM,
// no framework.
'use strict';

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000;
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
    refresh();
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
  const button = element('button', { type: 'button', className: 'card' }, frame,
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

function render() {
  const grid = $('grid');
  const ids = [...images.keys()].sort((a, b) => b - a);
  const existing = new Map([...grid.children].map((li) => [Number(li.dataset.id), li]));
  ids.forEach((id, index) => {
    const item = images.get(id);
    let li = existing.get(id);
    if (!li || li.dataset.key !== cardKey(item)) {
      const fresh = card(item);
      const focused = li && li.contains(document.activeElement);
      if (li) li.replaceWith(fresh); else grid.append(fresh);
      if (focused) fresh.querySelector('button').focus();
      li = fresh;
    }
    if (grid.children[index] !== li) grid.insertBefore(li, grid.children[index]);
    existing.delete(id);
  });
  for (const li of existing.values()) li.remove();
  $('empty').hidden = ids.length > 0 || next === undefined;
  $('count').textContent = ids.length ? `(${ids.length}${next ? '+' : ''})` : '';
}

// One page of /api/images: the cards' rows, jobs and thumbnails at once.
function pageQuery(cursor) {
  const query = new URLSearchParams({ limit: String(PAGE), thumbnail: String(GRID_SIZE) });
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
    if (next === undefined || (page.next === null && images.size === page.images.length)) next = page.next;
    render();
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
    render();
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
  render();
  refresh();
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
    images.delete(id);
    render();
    refresh();
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

  refresh();
  setInterval(() => document.visibilityState === 'visible' && refresh(), POLL_MS);
}

start();
