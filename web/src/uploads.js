// Uploads of this tab, kept outside the pages so they go on while the viewer
// browses. Each is a tus upload (resumable: pause, resume, and after a reload
// the same file continues where the server stopped).
import * as tus from 'tus-js-client';
import { session } from './api.js';

const PARALLEL = 3;
const CHUNK_BYTES = 32 * 1024 * 1024;

/** @type {Upload[]} */
export const uploads = [];
const listeners = new Set();

export function onUploadsChange(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

function changed(upload) {
  listeners.forEach((f) => f(upload));
}

/** The state of one file: queued, uploading, paused, done, failed or cancelled. */
class Upload {
  /**
   * `options.private`: the asset's streams play only on signed URLs;
   * `options.encrypted`: HLS AES-128 and DASH CENC (the server makes it private too).
   */
  constructor(file, options = {}) {
    this.key = `${file.name}-${file.size}-${file.lastModified}-${Math.random().toString(36).slice(2)}`;
    this.file = file;
    this.state = 'queued';
    this.sent = 0;
    this.assetId = null;
    this.encrypted = Boolean(options.encrypted);
    this.private = Boolean(options.private) || this.encrypted;
    this.error = null;
    this.startedAt = 0;
    this.rate = 0; // bytes per second, smoothed
    this.lastSample = null;
    this.tus = new tus.Upload(file, {
      endpoint: new URL('/api/v1/uploads', location.origin).href,
      chunkSize: CHUNK_BYTES,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      removeFingerprintOnSuccess: true,
      metadata: {
        title: file.name.replace(/\.[^.]+$/, ''),
        filename: file.name,
        filetype: file.type || 'application/octet-stream',
        private: String(Boolean(options.private)),
        encrypted: String(this.encrypted),
      },
      onBeforeRequest: (request) => {
        for (const [name, value] of Object.entries(session.authHeaders())) request.setHeader(name, value);
      },
      onUploadUrlAvailable: () => {
        this.assetId = this.tus.url?.split('/').pop() ?? null;
        changed(this);
      },
      onProgress: (sent) => this.progress(sent),
      onSuccess: () => {
        this.sent = file.size;
        this.state = 'done';
        changed(this);
        pump();
      },
      onError: (error) => {
        this.state = 'failed';
        this.error = describe(error);
        changed(this);
        pump();
      },
    });
  }

  get percent() {
    return this.file.size ? (100 * this.sent) / this.file.size : 0;
  }

  progress(sent) {
    if (!this.assetId && this.tus.url) this.assetId = this.tus.url.split('/').pop();
    const now = performance.now();
    if (this.lastSample) {
      const [t, bytes] = this.lastSample;
      if (now - t > 250) {
        const instant = ((sent - bytes) * 1000) / (now - t);
        this.rate = this.rate ? this.rate * 0.7 + instant * 0.3 : instant;
        this.lastSample = [now, sent];
      }
    } else {
      this.lastSample = [now, sent];
    }
    this.sent = sent;
    changed(this);
  }

  async begin() {
    this.state = 'uploading';
    this.error = null;
    this.lastSample = null;
    this.startedAt = Date.now();
    changed(this);
    try {
      const previous = await this.tus.findPreviousUploads();
      if (previous.length) this.tus.resumeFromPreviousUpload(previous[0]);
    } catch {
      /* no stored uploads (private mode): start afresh */
    }
    this.tus.start();
  }

  pause() {
    if (this.state !== 'uploading') return;
    this.state = 'paused';
    this.rate = 0;
    this.tus.abort(false);
    changed(this);
    pump();
  }

  resume() {
    if (this.state !== 'paused' && this.state !== 'failed') return;
    this.state = 'queued';
    changed(this);
    pump();
  }

  cancel() {
    const wasStarted = this.state !== 'queued';
    this.state = 'cancelled';
    // Termination removes the partial upload and its asset on the server.
    if (wasStarted) this.tus.abort(true).catch(() => {});
    changed(this);
    pump();
  }
}

function describe(error) {
  const status = error?.originalResponse?.getStatus?.();
  const body = error?.originalResponse?.getBody?.();
  let message = null;
  try {
    message = JSON.parse(body)?.error?.message ?? null;
  } catch {
    /* not JSON */
  }
  if (status === 401) {
    return session.token()
      ? 'The admin token was refused: sign in again with the token cdlc serve printed.'
      : 'Your session has ended: sign in again.';
  }
  if (message) return message;
  if (status) return `The server answered ${status}.`;
  return 'The connection to the server was lost; resume to continue where it stopped.';
}

/** Starts queued uploads while fewer than PARALLEL run. */
function pump() {
  let running = uploads.filter((u) => u.state === 'uploading').length;
  for (const upload of uploads) {
    if (running >= PARALLEL) break;
    if (upload.state === 'queued') {
      running += 1;
      upload.begin();
    }
  }
}

export function addFiles(files, options = {}) {
  // The newest batch goes on top, in the order the files were picked.
  const added = [...files].map((file) => new Upload(file, options));
  uploads.unshift(...added);
  added.forEach(changed);
  pump();
}

export function clearFinished() {
  for (let i = uploads.length - 1; i >= 0; i -= 1) {
    if (['done', 'cancelled'].includes(uploads[i].state)) uploads.splice(i, 1);
  }
  changed(null);
}

/** The upload of this tab for an asset, if any: the library shows its bytes. */
export function uploadFor(assetId) {
  return uploads.find((u) => u.assetId === assetId && u.state !== 'cancelled') ?? null;
}
