// Repeat-complaint points (重复投诉点位) on the map, in a real browser
// against the real service: an admin turns the layer on and gets one
// circle per point the service found, a list in the side panel and a
// popup with category, count and dates; a grid chief is not offered the
// layer and the service refuses it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loginAs, shot, settled, withBrowser } from './browser.mjs';
import { startService, demo, demoUnits, apiAs } from './service.mjs';

let svc;

before(async () => {
  const units = demoUnits(demo(600, 30000));
  const county = units.find((u) => u.level === 0);
  svc = await startService({ chiefGrid: units.find((u) => u.level === 3).code, leaderScope: county.code });
});

after(() => svc?.stop());

test('an admin shows the repeat-complaint points, lists them and opens one; a chief is not offered them', async () => {
  const admin = svc.users.admin;
  await withBrowser({}, async ({ page }) => {
    await loginAs(page, svc.base, admin.username, admin.password, '#level=1&metric=issue_count');
    assert.equal(await page.isVisible('#repeats'), true);
    assert.equal(await page.isVisible('#repeats-list'), false);
    const asked = page.waitForResponse((r) => r.url().includes('/api/v1/repeats'));
    await page.selectOption('#repeats', 'on');
    const res = await asked;
    assert.equal(res.status(), 200);
    const body = await res.json();
    const points = body.clusters;
    assert.ok(points.length > 0, 'the window holds repeat points');
    assert.ok(points.every((p) => p.peak >= 3));
    await page.waitForFunction(() => !!window.__wangge.map.map.getLayer('repeats'));
    await settled(page);
    // One circle per point, above the units, sized by count.
    const drawn = await page.evaluate(async () => {
      const m = window.__wangge.map.map;
      const layers = m.getStyle().layers.map((l) => l.id);
      const data = await m.getSource('repeats').getData();
      return {
        above: layers.indexOf('repeats') > layers.indexOf('fill'),
        n: data.features.length,
        counts: data.features.map((f) => f.properties.count),
        keys: Object.keys(data.features[0].properties).sort(),
      };
    });
    assert.equal(drawn.above, true);
    assert.equal(drawn.n, points.length);
    assert.deepEqual(drawn.counts, points.map((p) => p.count));
    // No free text: category, counts and dates only.
    assert.deepEqual(drawn.keys, ['category', 'count', 'first', 'last', 'peak']);
    // The list: the same points, largest peak first, as many as shown (at most 100).
    assert.equal(await page.isVisible('#repeats-list'), true);
    assert.equal(Number(await page.textContent('#repeats-total')), points.length);
    const items = await page.$$eval('#repeats-items li a', (as) => as.map((a) => a.textContent));
    assert.equal(items.length, Math.min(points.length, 100));
    assert.deepEqual(items, points.slice(0, items.length).map((p) => p.category));
    // Opening the first: a popup with its category, count and dates.
    await page.click('#repeats-items li a[data-i="0"]');
    await page.waitForSelector('.repeat-popup');
    const popup = await page.textContent('.repeat-popup');
    assert.ok(popup.includes(points[0].category), popup);
    assert.ok(popup.includes(`${points[0].count} 次`), popup);
    assert.ok(popup.includes(points[0].first) && popup.includes(points[0].last), popup);
    await shot(page, 'repeats-admin');
    // Off again: the circles and the list go.
    await page.selectOption('#repeats', 'off');
    await page.waitForFunction(() => window.__wangge.map.map.getLayoutProperty('repeats', 'visibility') === 'none');
    assert.equal(await page.isVisible('#repeats-list'), false);
    // In English after switching the language (the page reloads).
    await page.click('#lang');
    await page.waitForFunction(() => document.querySelector('#repeats-field .field-label')?.textContent === 'Repeat complaint points', null, { timeout: 60000 });
    await page.waitForFunction(() => document.querySelectorAll('#repeats option').length === 2, null, { timeout: 60000 });
    const options = await page.$$eval('#repeats option', (os) => os.map((o) => o.textContent));
    assert.deepEqual(options, ['Off', 'On (3 or more)']);
  });
  const chief = svc.users.chief;
  await withBrowser({}, async ({ page }) => {
    await loginAs(page, svc.base, chief.username, chief.password);
    assert.equal(await page.isVisible('#repeats'), false);
  });
  const r = await apiAs(svc.base, chief, '/repeats');
  assert.equal(r.status, 403);
});
