// A map leaders and chiefs can trust at a glance (issue 18), in a real
// browser against the real service: the cases behind the colours follow
// the map's filters and are located on it, playback can be paused, stepped
// and scrubbed, neighbours stay drawn when drilling in, a tap previews
// before it drills, and the tablet layouts keep the map large.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loginAs, shot, settled, withBrowser, pixelOf } from './browser.mjs';
import { startService, demo, demoUnits, apiAs } from './service.mjs';

const SKIP = process.env.WANGGE_WEB_MOCK ? 'the real service only' : false;
let svc;
let units = [];
let county;
let township;

before(async () => {
  if (SKIP) return;
  units = demoUnits(demo(600, 30000));
  county = units.find((u) => u.level === 0);
  township = units.find((u) => u.level === 1);
  svc = await startService({ chiefGrid: units.find((u) => u.level === 3).code, leaderScope: county.code });
});

after(() => svc?.stop());

const admin = () => svc.users.admin;
const api = async (q) => {
  const r = await apiAs(svc.base, admin(), q);
  assert.equal(r.status, 200, `${q}: ${JSON.stringify(r.body)}`);
  return r.body;
};
const num = (s) => Number(String(s).replace(/[^\d]/g, ''));
const win = (page) => page.evaluate(() => ({ from: window.__wangge.state.from, to: window.__wangge.state.to }));

test('the open cases follow the window, kind and category, page, and a case is located on the map', { skip: SKIP }, async () => {
  await withBrowser({}, async ({ page }) => {
    await loginAs(page, svc.base, admin().username, admin().password);
    await page.waitForSelector('#issues li[data-id]');
    const shownTotal = async () => num(await page.textContent('#issues-total'));
    // The last three months: fewer open cases than all of them.
    await page.selectOption('#preset', '3m');
    await page.waitForFunction(() => window.__wangge.state.preset === '3m');
    await settled(page);
    const w = await win(page);
    const all = await api(`/issues?unit=${county.code}&status=open&per_page=1`);
    const inWindow = await api(`/issues?unit=${county.code}&status=open&per_page=20&from=${w.from}&to=${w.to}`);
    assert.ok(inWindow.total < all.total, `the window narrows the list (${inWindow.total} < ${all.total})`);
    assert.equal(await shownTotal(), inWindow.total);
    const ids = () => page.$$eval('#issues li[data-id]', (ls) => ls.map((l) => l.dataset.id));
    assert.deepEqual(await ids(), inWindow.items.map((i) => i.id));
    // Pages of 20: previous, next, "第 n/m 页".
    const pages = Math.ceil(inWindow.total / 20);
    assert.ok(pages > 1);
    assert.equal((await page.textContent('#issues-page')).trim(), `第 1/${pages} 页`);
    assert.ok(await page.isDisabled('#issues-prev'));
    await page.click('#issues-next');
    await page.waitForFunction(() => /第 2\//.test(document.querySelector('#issues-page')?.textContent));
    const page2 = await api(`/issues?unit=${county.code}&status=open&per_page=20&page=2&from=${w.from}&to=${w.to}`);
    assert.deepEqual(await ids(), page2.items.map((i) => i.id));
    await page.click('#issues-prev');
    await page.waitForFunction(() => /第 1\//.test(document.querySelector('#issues-page')?.textContent));
    // The category filter narrows it again, to that category only.
    await page.selectOption('#kind', 'issue');
    await page.waitForFunction(() => window.__wangge.state.kind === 'issue');
    await settled(page);
    await page.selectOption('#category', '环境卫生');
    await page.waitForFunction(() => window.__wangge.state.category === '环境卫生');
    await settled(page);
    const cat = await api(`/issues?unit=${county.code}&status=open&per_page=20&from=${w.from}&to=${w.to}&category=${encodeURIComponent('环境卫生')}`);
    assert.ok(cat.total < inWindow.total);
    assert.equal(await shownTotal(), cat.total);
    const cats = await page.$$eval('#issues li[data-id] .case-open', (bs) => bs.map((b) => b.textContent.trim()));
    assert.ok(cats.length > 0 && cats.every((c) => c === '环境卫生'), cats.join(' '));
    // Incidents have no open issues: a note, not a list.
    await page.selectOption('#kind', 'incident');
    await page.waitForFunction(() => window.__wangge.state.kind === 'incident');
    await settled(page);
    assert.match(await page.textContent('#issues-note'), /治安案件/);
    assert.equal(await page.locator('#issues li[data-id]').count(), 0);
    await page.selectOption('#kind', 'issue');
    await page.waitForFunction(() => window.__wangge.state.kind === 'issue');
    await settled(page);
    // A case opens its history and is shown on the map: marker, grid outlined.
    await page.waitForSelector('#issues li[data-id]');
    const id = await page.getAttribute('#issues li[data-id] >> nth=0', 'data-id');
    const c = await api(`/issues/${encodeURIComponent(id)}`);
    assert.ok(Number.isFinite(c.lon) && Number.isFinite(c.lat) && c.tier3);
    await page.click('#issues li[data-id] >> nth=0 >> .case-open');
    await page.waitForSelector('#issues .case li:not(.muted)');
    await page.waitForSelector('.case-marker');
    await page.waitForFunction(() => !window.__wangge.map.map.isMoving());
    await settled(page);
    const at = await page.evaluate(() => {
      const m = window.__wangge.map;
      return {
        marker: m.marker.getLngLat().toArray(),
        center: m.map.getCenter().toArray(),
        grids: [...new Set(m.map.queryRenderedFeatures({ layers: ['case-grid'] }).map((f) => f.properties.code))],
      };
    });
    assert.deepEqual(at.marker, [c.lon, c.lat]);
    assert.ok(Math.abs(at.center[0] - c.lon) < 1e-3 && Math.abs(at.center[1] - c.lat) < 1e-3, `flew to the case: ${at.center}`);
    assert.deepEqual(at.grids, [c.tier3], 'the case grid is outlined');
    const box = await page.locator('.case-marker').boundingBox();
    const mapBox = await page.locator('#map').boundingBox();
    assert.ok(box.x >= mapBox.x && box.x + box.width <= mapBox.x + mapBox.width, 'the marker is on screen');
    await shot(page, 'case-located');
  });
});
