// One /api/events stream for every gallery tab of a browser, as a shared
// worker: over HTTP/1.1 a browser opens at most six connections to a host,
// and a stream holds one for as long as its tab is open, so the seventh tab
// would wait for ever. Each tab gets what the stream says: `open` or `down`
// (the tab then polls), and `ready`, `image` and `reset` with their data;
// a tab that joins an open stream gets `ready`, to read its first page again.
// Where a browser has no shared workers (Chrome on Android), each tab runs
// this as a worker of its own, which talks to that tab alone.
'use strict';

const tabs = new Set();
let source = null;
let waiting = false; // to open it again, after it was refused
let state = 'connecting'; // then 'open' or 'down'

function tell(message) {
  for (const port of tabs) port.postMessage(message);
}

function follow() {
  source = new EventSource('/api/events');
  source.addEventListener('open', () => {
    state = 'open';
    tell({ type: 'open' });
  });
  for (const type of ['ready', 'image', 'reset']) {
    source.addEventListener(type, (e) => tell({ type, data: e.data }));
  }
  source.addEventListener('error', () => {
    state = 'down';
    tell({ type: 'down' });
    // Refused (too many streams on this host): try again later.
    if (source.readyState === EventSource.CLOSED) {
      source = null;
      waiting = true;
      setTimeout(() => { waiting = false; follow(); }, 30000);
    }
  });
}

function join(port) {
  tabs.add(port);
  port.onmessage = (m) => m.data === 'bye' && tabs.delete(port);
  port.postMessage({ type: state });
  // The tab's first read may have been made before it was listening.
  if (state === 'open') port.postMessage({ type: 'ready' });
  if (!source && !waiting) follow();
}

if (typeof SharedWorkerGlobalScope === 'function' && self instanceof SharedWorkerGlobalScope) {
  onconnect = (e) => join(e.ports[0]);
} else {
  join(self);
}
