// The single-file deployment: the built binary alone, linked into an empty
// directory (no web/, no node_modules/ beside it), started there on a fresh
// demo county, serves the whole map to a browser whose every request off
// 127.0.0.1 is refused: units drawn, Chinese labels in the font the service
// cuts for this county (a unit renamed with a character outside GB 2312 is
// drawn, not boxed), no failed request. Also: recolouring the map asks
// nothing of the export endpoint.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loginAs, settled, renderedCodes, withBrowser, shot } from './browser.mjs';
import { BIN, PASSWORD, freePort, waitHttp } from './service.mjs';

// 䶮 (U+4DAE, CJK Extension A) is in no GB 2312 set nor in the front end's
// text: the font has it only if the cut follows the county's names.
const RARE = '䶮';
let dir;
let proc;
let base;
let log = '';
let townships = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wangge-onefile-'));
  const bin = path.join(dir, 'wangge');
  // A hard link is the copy without its 200 MB on disk; across file systems
  // a symbolic link stands in (the binary reads nothing beside itself).
  try {
    fs.linkSync(BIN, bin);
  } catch {
    fs.symlinkSync(path.resolve(BIN), bin);
  }
  // Only settings of the defaults: no WANGGE_* from the caller's shell.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WANGGE_')));
  const run = (args) => execFileSync(bin, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'inherit'] });
  run(['demo', '--out', 'data', '--grids', '600', '--events', '5000']);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['data', 'wangge']);
  const file = path.join(dir, 'data', 'grids.geojson');
  const fc = JSON.parse(fs.readFileSync(file, 'utf8'));
  const first = fc.features.find((f) => f.properties.level === 1);
  first.properties.name = `${RARE}${first.properties.name}`;
  fs.writeFileSync(file, JSON.stringify(fc));
  townships = fc.features.filter((f) => f.properties.level === 1).map((f) => f.properties.code);
  run(['user', 'add', '--data', 'data', '--role', 'admin', '--password', PASSWORD, 'test-admin']);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  proc = spawn(bin, ['serve', '--data', 'data', '--addr', `127.0.0.1:${port}`], {
    cwd: dir,
    env: { ...env, RUST_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  try {
    await waitHttp(`${base}/readyz`, 300000, proc);
  } catch (e) {
    proc.kill();
    throw new Error(`${e.message}\n${log}`);
  }
});

after(() => {
  proc?.kill();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the single binary serves the full map from an empty directory with no network', async () => {
  await withBrowser({}, async ({ page }) => {
    const failed = [];
    const fonts = [];
    page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.url()} ${r.status()}`);
      if (r.url().includes('/glyphs/')) fonts.push([r.status(), r.headers()['content-type']]);
    });
    await loginAs(page, base, 'test-admin', PASSWORD);
    assert.deepEqual((await renderedCodes(page)).sort(), [...townships].sort(), 'every township is drawn');
    const canvasShot = async (text) => {
      await page.evaluate((s) => window.__wangge.map.setLabelText(s), text);
      await settled(page);
      return page.locator('#map canvas').screenshot();
    };
    const han = await canvasShot('网格测试');
    const other = await canvasShot('社区街道');
    const none = await canvasShot('');
    // U+4DAF is in no name: missing from the cut, drawn as a box.
    const rare = await canvasShot(RARE.repeat(3));
    const boxed = await canvasShot('\u4DAF'.repeat(3));
    const boxed2 = await canvasShot('\u4DB0'.repeat(3));
    await page.evaluate(() => window.__wangge.map.setLabelText(null));
    await settled(page);
    await shot(page, 'onefile-map');
    assert.ok(fonts.length > 0 && fonts.every(([s, ct]) => s === 200 && ct === 'font/woff2'), `font served: ${JSON.stringify(fonts)}`);
    assert.ok(!han.equals(none), 'labels are drawn at all');
    assert.ok(!han.equals(other), 'two different Chinese strings render differently (identical means boxes)');
    // The control: two characters the cut lacks look alike (boxes), so a
    // difference means a glyph.
    assert.ok(boxed.equals(boxed2), 'characters missing from the font render alike');
    assert.ok(!rare.equals(boxed), `${RARE}, found only in a unit name, is drawn from the served font`);
    assert.deepEqual(failed, [], 'no request failed');
    assert.match(log, /Chinese glyphs cut for the grid version/);
  });
});

test('the export buttons come from the role: recolouring asks nothing of the export endpoint', async () => {
  await withBrowser({}, async ({ page }) => {
    const exports = [];
    page.on('request', (r) => new URL(r.url()).pathname.startsWith('/api/v1/export') && exports.push(`${r.method()} ${r.url()}`));
    await loginAs(page, base, 'test-admin', PASSWORD);
    assert.ok(await page.isVisible('#export'));
    assert.ok(await page.isVisible('#export button[data-what=events]'), 'an admin may export the events');
    const metrics = await page.$$eval('#metric option:not([disabled])', (os) => os.map((o) => o.value));
    for (const m of metrics.slice(1, 4)) {
      await page.selectOption('#metric', m);
      await settled(page);
    }
    await page.selectOption('#mode', 'hot');
    await settled(page);
    await page.selectOption('#mode', 'metric');
    await settled(page);
    assert.deepEqual(exports, [], 'no export request while recolouring');
  });
});
