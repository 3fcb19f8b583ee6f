// Headless Debian Chromium through playwright-core, as ../../shared's
// BROWSER.md says: a persistent context in a fresh temp dir, SwiftShader
// WebGL, every request not to 127.0.0.1 aborted and recorded, and a
// fontconfig that hides the machine's CJK fonts so that Chinese text can
// only come from the glyphs the service serves.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const ARTIFACTS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../artifacts');

const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
];

/** A fontconfig with only DejaVu (Latin): the client has no CJK font. */
function latinOnlyFontconfig(dir) {
  const conf = path.join(dir, 'fonts.conf');
  fs.writeFileSync(conf, `<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>/usr/share/fonts/truetype/dejavu</dir>
  <cachedir>${path.join(dir, 'fc-cache')}</cachedir>
</fontconfig>
`);
  return conf;
}

/**
 * Launches a browser; `offsite` collects every URL that was not on loopback.
 * viewport defaults to a laptop; pass {width: 1024, height: 768} for a tablet
 * (and hasTouch: true for taps).
 */
export async function launch({ viewport = { width: 1400, height: 900 }, hasTouch = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wangge-chromium-'));
  const context = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ARGS,
    viewport,
    hasTouch,
    env: { ...process.env, FONTCONFIG_FILE: latinOnlyFontconfig(dir) },
  });
  const offsite = [];
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.protocol === 'data:' || u.protocol === 'blob:' || u.hostname === '127.0.0.1') return route.continue();
    offsite.push(route.request().url());
    return route.abort();
  });
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return {
    context, page, offsite, errors,
    async close() {
      await context.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function shot(page, name, opts = {}) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, ...opts });
  return file;
}

/** Logs in through the form and waits for the map's first idle and settled state. */
export async function loginAs(page, base, username, password, hash = '') {
  await page.goto(`${base}/${hash}`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => window.__ready === true, null, { timeout: 60000 });
  await settled(page);
}

export async function settled(page) {
  await page.evaluate(() => window.__wangge.settled());
}

/** Features rendered in the fill layer, unique by code. */
export async function renderedCodes(page) {
  return page.evaluate(() => {
    const m = window.__wangge.map.map;
    return [...new Set(m.queryRenderedFeatures({ layers: ['fill'] }).map((f) => f.properties.code))];
  });
}

/** Opens a browser, runs `f(b)`, checks that nothing left loopback, closes. */
export async function withBrowser(opts, f) {
  const b = await launch(opts);
  try {
    await f(b);
    assert.deepEqual(b.offsite, [], 'requests left 127.0.0.1');
    assert.deepEqual(b.errors, [], 'page errors');
  } finally {
    await b.close();
  }
}

/** Viewport pixel of a point inside the rendered unit `code` of `layer` (scans the canvas). */
export async function pixelOf(page, code, layer = 'fill') {
  const p = await page.evaluate(([code, layer]) => {
    const m = window.__wangge.map.map;
    const c = m.getCanvas();
    const r = c.getBoundingClientRect();
    for (let step = 24; step >= 4; step /= 2) {
      for (let y = step / 2; y < r.height; y += step) {
        for (let x = step / 2; x < r.width; x += step) {
          // Inside, not on a border: the points around are the unit too
          // (a border pixel may fall either side once tiles redraw).
          const at = (dx, dy) => m.queryRenderedFeatures([x + dx, y + dy], { layers: [layer] })[0]?.properties.code;
          if (at(0, 0) === code && [[-5, 0], [5, 0], [0, -5], [0, 5]].every(([dx, dy]) => at(dx, dy) === code)) {
            return { x: r.left + x, y: r.top + y };
          }
        }
      }
    }
    return null;
  }, [code, layer]);
  assert.ok(p, `unit ${code} is not drawn`);
  return p;
}
