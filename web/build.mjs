// Builds the web UI into dist/: hashed, minified bundles under dist/static/
// (served as immutable) and dist/index.html that names them. The cdlc binary
// embeds dist/ at compile time (server/build.rs), so run this before cargo.
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(root, 'dist');
const staticDir = path.join(dist, 'static');

await rm(dist, { recursive: true, force: true });
await mkdir(staticDir, { recursive: true });

const result = await build({
  entryPoints: { app: path.join(root, 'src/main.js') },
  bundle: true,
  splitting: true, // dash.js loads only when a viewer picks it
  format: 'esm',
  target: ['chrome100', 'firefox100', 'safari15'],
  minify: true,
  outdir: staticDir,
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});

const outputs = Object.entries(result.metafile.outputs);
const entry = outputs.find(([, o]) => o.entryPoint?.endsWith('src/main.js'));
if (!entry) throw new Error('esbuild produced no entry bundle');
const [script, { cssBundle }] = entry;
const href = (file) => '/static/' + path.relative(staticDir, path.join(root, file)).split(path.sep).join('/');

const template = await readFile(path.join(root, 'src/index.html'), 'utf8');
const stylesheet = cssBundle ? `<link rel="stylesheet" href="${href(cssBundle)}">` : '';
const html = template
  .replace('<!-- styles -->', stylesheet)
  .replace('<!-- script -->', `<script type="module" src="${href(script)}"></script>`);
await writeFile(path.join(dist, 'index.html'), html);

// Pre-compressed copies: the server sends them to clients that accept gzip.
let total = 0;
for (const name of await readdir(staticDir)) {
  if (!/\.(js|css)$/.test(name)) continue;
  const bytes = await readFile(path.join(staticDir, name));
  total += bytes.length;
  await writeFile(path.join(staticDir, name + '.gz'), gzipSync(bytes, { level: 9 }));
}
console.log(`web UI built into ${path.relative(process.cwd(), dist) || 'dist'} (${Math.round(total / 1024)} KiB of scripts and styles)`);
