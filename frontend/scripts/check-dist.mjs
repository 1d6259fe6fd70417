// The shipped-bundle budget, run by `npm run size` after a build:
//   - JS + CSS under dist/assets/ must stay under 60 KB gzipped;
//   - dist/index.html must run under `Content-Security-Policy: default-src 'self'`:
//     no inline scripts, styles or style attributes, nothing loaded off-origin.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET_BYTES = 60 * 1024;
const dist = new URL('../dist/', import.meta.url).pathname;
const assets = join(dist, 'assets');
const problems = [];

let total = 0;
for (const name of readdirSync(assets).filter((n) => /\.(js|css)$/.test(n)).sort()) {
  const bytes = readFileSync(join(assets, name));
  const gzipped = gzipSync(bytes, { level: 9 }).length;
  total += gzipped;
  console.log(`${name.padEnd(32)} ${String(bytes.length).padStart(7)} B  ${String(gzipped).padStart(6)} B gzipped`);
}
console.log(`total gzipped: ${(total / 1024).toFixed(1)} KB (budget ${BUDGET_BYTES / 1024} KB)`);
if (total > BUDGET_BYTES) problems.push(`JS + CSS is ${total} B gzipped, over the ${BUDGET_BYTES} B budget`);

const html = readFileSync(join(dist, 'index.html'), 'utf8');
if (/<script(?![^>]*\bsrc=)[^>]*>/i.test(html)) problems.push('index.html has an inline <script>');
if (/<style[\s>]/i.test(html)) problems.push('index.html has an inline <style>');
if (/\sstyle\s*=/i.test(html)) problems.push('index.html has a style="" attribute');
if (/\s(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i.test(html)) problems.push('index.html loads something off-origin');
if (/\son[a-z]+\s*=/i.test(html)) problems.push('index.html has an inline event handler');

if (problems.length) {
  for (const p of problems) console.error(`check-dist: ${p}`);
  process.exit(1);
}
