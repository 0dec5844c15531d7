// Small DOM and formatting helpers shared by the pages.

/**
 * Builds an element: `h('a.card', { href }, child, 'text')`. Attributes that
 * start with `on` become listeners; `class`, `dataset` and `style` objects are
 * applied as such; null and false children are skipped.
 */
export function h(tag, attributes = {}, ...children) {
  const [name, ...classes] = tag.split('.');
  const element = document.createElement(name || 'div');
  if (classes.length) element.className = classes.join(' ');
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'class') {
      element.classList.add(...String(value).split(/\s+/).filter(Boolean));
    } else if (key === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (key === 'style' && typeof value === 'object') {
      Object.assign(element.style, value);
    } else if (key in element && typeof value !== 'string') {
      element[key] = value;
    } else {
      element.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

/**
 * Keeps `container`'s children in the order of `items`, one view per item:
 * `views` maps a key to a view ({element, …}); new items get `create(item)`,
 * every item gets `update(view, item)`, views of items gone are removed.
 * Views are kept, so a progress bar moves instead of being redrawn.
 */
export function syncList(container, views, items, { key, create, update }) {
  const seen = new Set();
  items.forEach((item, index) => {
    const id = key(item);
    seen.add(id);
    let view = views.get(id);
    if (!view) {
      view = create(item);
      views.set(id, view);
    }
    update(view, item);
    if (container.children[index] !== view.element) container.insertBefore(view.element, container.children[index] ?? null);
  });
  for (const [id, view] of views) {
    if (!seen.has(id)) {
      view.element.remove();
      views.delete(id);
    }
  }
}

export function clear(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value < 10 && unit > 0 ? 1 : 0)} ${units[unit]}`;
}

export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '–:––';
  const whole = Math.floor(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const secs = String(whole % 60).padStart(2, '0');
  return hours ? `${hours}:${String(minutes).padStart(2, '0')}:${secs}` : `${minutes}:${secs}`;
}

/** The probe's duration (`{secs, nanos}`) in seconds. */
export function sourceSeconds(asset) {
  const duration = asset?.source?.duration;
  if (!duration) return NaN;
  return duration.secs + duration.nanos / 1e9;
}

export function formatBitrate(bitsPerSecond) {
  if (!bitsPerSecond) return '';
  return bitsPerSecond >= 1e6 ? `${(bitsPerSecond / 1e6).toFixed(1)} Mb/s` : `${Math.round(bitsPerSecond / 1e3)} kb/s`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

export function formatWhen(millis) {
  const seconds = (millis - Date.now()) / 1000;
  const steps = [
    [60, 'second'],
    [60, 'minute'],
    [24, 'hour'],
    [7, 'day'],
    [4.35, 'week'],
    [12, 'month'],
    [Infinity, 'year'],
  ];
  let value = seconds;
  for (const [size, unit] of steps) {
    if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
    value /= size;
  }
  return '';
}

export function assetTitle(asset) {
  return asset.title?.trim() || `Untitled ${asset.id.slice(0, 8)}`;
}

const STATUS_LABELS = {
  uploading: 'Uploading',
  processing: 'Processing',
  ready: 'Ready',
  errored: 'Failed',
};

/** The status pill; `data-status` carries the API's word for scripts and tests. */
export function statusBadge(asset) {
  return h(
    'span.badge',
    { class: `status-${asset.status}`, dataset: { status: asset.status } },
    STATUS_LABELS[asset.status] ?? asset.status,
  );
}

export function progressBar(percent, label) {
  const value = Math.max(0, Math.min(100, Number(percent) || 0));
  const bar = h('div.progress', {
    role: 'progressbar',
    'aria-valuemin': '0',
    'aria-valuemax': '100',
    'aria-valuenow': String(Math.round(value)),
    'aria-label': label ?? 'Progress',
  });
  bar.append(h('div.progress-fill', { style: { width: `${value}%` } }));
  return bar;
}

export function setProgress(bar, percent) {
  const value = Math.max(0, Math.min(100, Number(percent) || 0));
  bar.setAttribute('aria-valuenow', String(Math.round(value)));
  bar.firstElementChild.style.width = `${value}%`;
}

export async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h('textarea', { style: { position: 'fixed', opacity: '0' } }, text);
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  if (button) {
    const before = button.textContent;
    button.textContent = 'Copied';
    setTimeout(() => (button.textContent = before), 1200);
  }
}

/**
 * A stream URL this viewer can load: any of a public asset; of a private
 * asset only a signed one (`/streams/ID/~TOKEN/…`, which the API gives the
 * admin). `null` otherwise.
 */
export function viewableUrl(asset, url) {
  if (!url) return null;
  return !asset.private || url.includes('/~') ? url : null;
}

/** A stream URL without its signature, to tell whether two URLs name the same object. */
export function unsigned(url) {
  return url ? url.replace(/\/~[^/]+\//, '/') : url;
}
