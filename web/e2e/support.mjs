// What the browser suite needs around the browser: generated clips, a real
// `cdlc serve` on a loopback port, Debian's Chromium through playwright-core.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Chromium from Debian (apt `chromium`); the suite never downloads a browser. */
export const CHROMIUM = process.env.CDLC_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--autoplay-policy=no-user-gesture-required',
];

export async function tempDir(prefix) {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/**
 * An H.264/AAC MP4 made by ffmpeg: `testsrc2` (moving, colourful, never
 * black) and a sine tone, `seconds` long at `width`x`height`, 30 fps.
 */
export function makeClip(file, { seconds, width, height }) {
  execFileSync('ffmpeg', [
    '-v', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '60',
    '-c:a', 'aac', '-b:a', '96k', '-shortest', '-movflags', '+faststart', file,
  ]);
  return file;
}

/** A call of the API with `token` as the bearer; a non-2xx answer fails the test with the body. */
export async function api(server, token, method, path, json) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const body = await response.json().catch(() => null);
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

/** Waits until the asset is ready (240 s at most); an errored asset fails the test. */
export async function waitReady(server, token, assetId) {
  const deadline = Date.now() + 240_000;
  for (;;) {
    const asset = await api(server, token, 'GET', `/api/v1/assets/${assetId}`);
    if (asset.status === 'ready') return asset;
    assert.notEqual(asset.status, 'errored', asset.error);
    assert.ok(Date.now() < deadline, `asset ${assetId} is not ready after 240 s (${asset.status})`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A real `cdlc serve` (the debug binary `make test` builds) with its own data dir. */
export async function startServer({ dataDir, token, args = [], env = {} }) {
  const binary = process.env.CDLC_BIN ?? path.join(repoRoot, 'target/debug/cdlc');
  const port = await freePort();
  const log = [];
  const child = spawn(binary, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, ...args], {
    env: { ...process.env, CDLC_ADMIN_TOKEN: token, RUST_LOG: process.env.RUST_LOG ?? 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (text) => {
      log.push(text);
      if (log.length > 400) log.shift();
    });
  }
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  // However the suite ends (a crash included), the server does not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const early = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 100))]);
    if (early) throw new Error(`cdlc serve exited (${early.code ?? early.signal}) at start:\n${log.join('')}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`cdlc serve did not answer /healthz in 30 s:\n${log.join('')}`);
  }
  return {
    url,
    log: () => log.join(''),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const stopped = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 10_000))]);
      if (!stopped) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/**
 * The TEST payment provider (`cdlc-test-payments`, beside the cdlc binary):
 * no real gateway can run here. Killed with the suite.
 */
export async function startPayments({ port, apiKey, webhookSecret, webhookUrl }) {
  const binary = path.join(path.dirname(process.env.CDLC_BIN ?? path.join(repoRoot, 'target/debug/cdlc')), 'cdlc-test-payments');
  const child = spawn(binary, ['--listen', `127.0.0.1:${port}`, '--api-key', apiKey, '--webhook-secret', webhookSecret, '--webhook-url', webhookUrl], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (child.exitCode !== null) throw new Error(`${binary} exited at start (cargo build -p cdlc-plugin-booking builds it)`);
    if (Date.now() > deadline) throw new Error(`${binary} did not answer /healthz in 10 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    stop() {
      child.kill('SIGTERM');
      process.off('exit', killOnExit);
    },
  };
}

/** Chromium with a fresh profile in a temp dir. */
export async function launchBrowser(userDataDir, options = {}) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 800 },
    ...options,
  });
}

/** Runs the named tests in order; prints the standard summary line. */
export async function runTests(tests, { artifacts, onFailure }) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  // CDLC_E2E_ONLY=text runs only the tests whose names contain it (while working on them).
  const only = process.env.CDLC_E2E_ONLY;
  for (const [name, run] of tests) {
    if (only && !name.includes(only)) continue;
    const started = Date.now();
    try {
      const outcome = await run();
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (outcome?.skip) {
        skipped += 1;
        console.log(`skip  ${name}: ${outcome.skip}`);
      } else {
        passed += 1;
        console.log(`ok    ${name} (${seconds} s)`);
      }
    } catch (error) {
      failed += 1;
      console.log(`FAIL  ${name}\n      ${String(error?.stack ?? error).split('\n').join('\n      ')}`);
      await mkdir(artifacts, { recursive: true });
      await onFailure(name, artifacts).catch((e) => console.log(`      (no screenshot: ${e.message})`));
    }
  }
  return { passed, failed, skipped };
}

export async function removeDir(dir) {
  await rm(dir, { recursive: true, force: true }).catch(() => {});
}
