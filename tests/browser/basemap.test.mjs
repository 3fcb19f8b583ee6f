// The optional intranet basemap ([map] basemap): a raster tile server on
// another loopback port stands in for a 天地图 or GeoServer mirror inside the
// government network. The map draws its tiles under the units, with the
// attribution, and the page's security policy lets exactly that server in.
// Without the setting (every other browser test) nothing leaves the service.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { loginAs, shot, withBrowser, launch } from './browser.mjs';
import { startService } from './service.mjs';

let svc;
let tiles;
const asked = [];

/** A 256 × 256 PNG tile: a screenshot of a coloured square in the test browser. */
async function tilePng() {
  const b = await launch({ viewport: { width: 256, height: 256 } });
  try {
    await b.page.setContent('<body style="margin:0"><div style="width:256px;height:256px;background:#9ecae1"></div></body>');
    return await b.page.screenshot({ clip: { x: 0, y: 0, width: 256, height: 256 } });
  } finally {
    await b.close();
  }
}

before(async () => {
  const png = await tilePng();
  tiles = http.createServer((req, res) => {
    asked.push(req.url);
    // A tile server of another origin answers the page's cross-origin fetch.
    res.writeHead(200, { 'Content-Type': 'image/png', 'Access-Control-Allow-Origin': '*' });
    res.end(png);
  });
  await new Promise((r) => tiles.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${tiles.address().port}`;
  svc = await startService({
    env: { WANGGE_MAP_BASEMAP: `${origin}/base/{z}/{x}/{y}.png`, WANGGE_MAP_BASEMAP_ATTRIBUTION: '测试底图 © 县自然资源局' },
  });
});

after(() => {
  svc?.stop();
  tiles?.close();
});

test('an intranet basemap is drawn under the units with its attribution', async () => {
  await withBrowser({}, async ({ page }) => {
    const blocked = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) blocked.push(m.text());
    });
    await loginAs(page, svc.base, svc.users.admin.username, svc.users.admin.password);
    const drawn = await page.evaluate(() => {
      const m = window.__wangge.map.map;
      return {
        layers: m.getStyle().layers.map((l) => l.id),
        loaded: m.isSourceLoaded('basemap'),
        attribution: document.querySelector('.maplibregl-ctrl-attrib')?.textContent || '',
      };
    });
    assert.ok(asked.length > 0, 'no basemap tile was asked for');
    assert.ok(asked.every((u) => /^\/base\/\d+\/\d+\/\d+\.png$/.test(u)), asked.join(' '));
    assert.ok(drawn.loaded, 'the basemap source did not load');
    // Under the units: before the fill layer in drawing order.
    assert.ok(drawn.layers.indexOf('basemap') >= 0 && drawn.layers.indexOf('basemap') < drawn.layers.indexOf('fill'), drawn.layers.join(','));
    assert.ok(drawn.attribution.includes('测试底图'), drawn.attribution);
    assert.deepEqual(blocked, [], 'the security policy blocked the basemap');
    await shot(page, 'basemap');
  });
});
