// Small helpers shared by the pages: building elements without HTML strings, and
// formatting durations, counts, dates, sizes and rates.

// h builds an element: h('a', {href: '/'}, 'text', child…). Attributes starting with
// "on" are listeners; text is always text, never HTML.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
  const s = Math.floor(seconds % 60), m = Math.floor(seconds / 60) % 60, hr = Math.floor(seconds / 3600);
  const ss = String(s).padStart(2, '0');
  return hr ? `${hr}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function views(n) {
  n = n || 0;
  return n === 1 ? '1 view' : `${new Intl.NumberFormat().format(n)} views`;
}

export function day(iso) {
  if (!iso) return '';
  return new Date(iso).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

export function bytes(n) {
  if (!Number.isFinite(n)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
}

// rate measures bytes per second over the last few seconds of samples.
export function rateMeter(windowMs = 5000) {
  const samples = [];
  return {
    add(sent, now = performance.now()) {
      samples.push([now, sent]);
      while (samples.length > 2 && now - samples[0][0] > windowMs) samples.shift();
    },
    perSecond() {
      if (samples.length < 2) return 0;
      const [t0, b0] = samples[0], [t1, b1] = samples[samples.length - 1];
      return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
    },
  };
}

// debounce calls fn once calls stop for ms.
export function debounce(fn, ms) {
  let t;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}
