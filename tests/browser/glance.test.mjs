// A map leaders and chiefs can trust at a glance (issue 18), in a real
// browser against the real service: the cases behind the colours follow
// the map's filters and are located on it, playback can be paused, stepped
// and scrubbed, neighbours stay drawn when drilling in, a tap previews
// before it drills, and the tablet layouts keep the map large.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loginAs, shot, settled, withBrowser, pixelOf } from './browser.mjs';
import { startService, demo, demoUnits, apiAs } from './service.mjs';

let svc;
let units = [];
let county;
let township;

before(async () => {
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

test('the open cases follow the window, kind and category, page, and a case is located on the map', async () => {
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

test('playback pauses, steps, scrubs, shows its month and loading, and follows a metric change', async () => {
  await withBrowser({}, async ({ page }) => {
    // Each month's request a little slow, as on a busy intranet: the
    // progress of loading is then there to be seen.
    let asked = 0;
    await page.route(/\/api\/v1\/map\?/, async (route) => {
      asked++;
      await new Promise((r) => setTimeout(r, 120));
      await route.continue();
    });
    await loginAs(page, svc.base, admin().username, admin().password);
    const w = await win(page);
    const months = [];
    for (let d = new Date(`${w.from}T00:00:00Z`); d.toISOString().slice(0, 10) < w.to; d.setUTCMonth(d.getUTCMonth() + 1)) months.push(d.toISOString().slice(0, 7));
    const month = () => page.getAttribute('#playing', 'data-month');
    await page.click('#play');
    await page.waitForSelector('#play-progress:not([hidden])');
    assert.match(await page.textContent('#play-progress'), new RegExp(`加载各月数据 \\d+/${months.length}`));
    await page.waitForFunction(() => document.querySelector('#playing').dataset.month, null, { timeout: 60000 });
    assert.ok(await page.isHidden('#play-progress'), 'the progress goes once the months are in');
    assert.equal((await page.textContent('#play')).trim(), '‖ 暂停');
    // The month shown, in words.
    const shown = await month();
    assert.ok(months.includes(shown));
    assert.match(await page.textContent('#playing'), new RegExp(`${Number(shown.slice(0, 4))}年${Number(shown.slice(5))}月`));
    // Pause: the month stays.
    await page.click('#play');
    assert.equal((await page.textContent('#play')).trim(), '▶ 继续');
    const paused = await month();
    await page.waitForTimeout(1600);
    assert.equal(await month(), paused, 'paused stays on its month');
    // Scrub to the sixth month, then a month forward and back.
    await page.$eval('#play-slider', (s) => {
      s.value = '5';
      s.dispatchEvent(new Event('input', { bubbles: true }));
    });
    assert.equal(await month(), months[5]);
    await page.click('#play-next');
    assert.equal(await month(), months[6]);
    assert.equal(await page.inputValue('#play-slider'), '6');
    await page.click('#play-prev');
    await page.click('#play-prev');
    assert.equal(await month(), months[4]);
    // The map shows that month's values on the fixed scale.
    const expect = await api(`/map?level=1&metric=event_count&from=${months[4]}-01&to=${months[5]}-01`);
    const painted = await page.evaluate(() => [...window.__wangge.current].map(([code, v]) => [code, v.value]));
    assert.deepEqual(new Map(painted), new Map(expect.values.map((v) => [v.code, v.value])));
    // The legend names that month, not the whole window.
    const lastDay = new Date(Date.UTC(Number(months[5].slice(0, 4)), Number(months[5].slice(5)) - 1, 0)).toISOString().slice(0, 10);
    assert.match(await page.textContent('#legend'), new RegExp(`时段：${months[4]}-01 至 ${lastDay}`));
    await shot(page, 'play-paused');
    // A metric chosen while playing takes effect on the same month.
    await page.selectOption('#metric', 'incident_count');
    await page.waitForSelector('#play-progress:not([hidden])');
    await page.waitForSelector('#play-progress', { state: 'hidden' });
    await page.waitForFunction(() => /案件数/.test(document.querySelector('#legend .legend-title').textContent));
    assert.equal(await month(), months[4]);
    assert.equal((await page.textContent('#play')).trim(), '▶ 继续', 'still paused');
    const incidents = await api(`/map?level=1&metric=incident_count&from=${months[4]}-01&to=${months[5]}-01`);
    const painted2 = await page.evaluate(() => [...window.__wangge.current].map(([code, v]) => [code, v.value]));
    assert.deepEqual(new Map(painted2), new Map(incidents.values.map((v) => [v.code, v.value])));
    // Resume plays on from there; stop leaves playback for the window's colours.
    await page.click('#play');
    await page.waitForFunction((m) => document.querySelector('#playing').dataset.month > m, months[4]);
    await page.click('#play-stop');
    assert.ok(await page.isHidden('#play-controls'));
    assert.equal((await page.textContent('#playing')).trim(), '');
    assert.equal((await page.textContent('#play')).trim(), '▶ 逐月播放');
    await settled(page);
    const year = await api(`/map?level=1&metric=incident_count&from=${w.from}&to=${w.to}`);
    await page.waitForFunction((n) => [...window.__wangge.current.values()].reduce((a, v) => a + (v.value || 0), 0) === n, year.values.reduce((a, v) => a + (v.value || 0), 0));
    // Stopped while loading, playback asks for no more months.
    await page.click('#play');
    await page.waitForSelector('#play-progress:not([hidden])');
    await page.click('#play-stop');
    const atStop = asked;
    await page.waitForTimeout(1500);
    assert.ok(asked <= atStop + 1, `${asked - atStop} months asked after stop`);
    assert.ok(await page.isHidden('#play-progress'));
  });
});

test('a tap previews before drilling; neighbours stay drawn greyed and lead there', async () => {
  await withBrowser({}, async ({ page }) => {
    await loginAs(page, svc.base, admin().username, admin().password);
    const { x, y } = await pixelOf(page, township.code);
    await page.mouse.move(x, y);
    await page.waitForSelector('#tooltip:not([hidden])');
    await page.mouse.click(x, y);
    await page.waitForSelector('.preview #preview-drill');
    assert.ok(await page.isHidden('#tooltip'), 'the preview replaces the hover tooltip');
    const value = await api(`/map?level=1&metric=event_count&from=${(await win(page)).from}&to=${(await win(page)).to}`);
    const v = value.values.find((r) => r.code === township.code).value;
    assert.equal((await page.textContent('.preview .preview-value')).trim(), `事件总数：${v.toLocaleString('zh-CN')}`);
    assert.equal((await page.textContent('#preview-drill')).trim(), '进入 ›');
    // In the served Chinese face (the map's own font has no Chinese: boxes).
    assert.match(await page.$eval('.preview .preview-name', (e) => getComputedStyle(e).fontFamily), /^WanggeSans/);
    await settled(page);
    assert.equal(await page.evaluate(() => window.__wangge.state.parent), null, 'not drilled yet');
    assert.equal((await page.textContent('#panel-title')).trim(), township.name, 'the panel shows the unit previewed');
    await page.click('#preview-drill');
    await page.waitForFunction((c) => window.__wangge.state.parent === c, township.code);
    await settled(page);
    // Nothing of the county view sticks: no preview, no tooltip.
    assert.equal(await page.locator('.preview').count(), 0);
    assert.ok(await page.isHidden('#tooltip'), 'no stale tooltip after drilling');
    // The other townships stay drawn, greyed, around the one drilled into.
    const others = units.filter((u) => u.level === 1 && u.code !== township.code).map((u) => u.code).sort();
    const around = await page.evaluate(() => {
      const m = window.__wangge.map;
      return {
        codes: m.context.features.map((f) => f.properties.code).sort(),
        drawn: [...new Set(m.map.queryRenderedFeatures({ layers: ['context-fill'] }).map((f) => f.properties.code))],
        colour: m.map.getPaintProperty('context-fill', 'fill-color'),
        classColours: JSON.stringify(m.map.getPaintProperty('fill', 'fill-color')),
      };
    });
    assert.deepEqual(around.codes, others);
    assert.ok(around.drawn.length > 0, 'some neighbours are on screen');
    assert.ok(!around.classColours.includes(around.colour), 'greyed: not a class colour');
    await shot(page, 'drill-neighbours');
    // A neighbour previews with a button to go there.
    const next = around.drawn[0];
    const p = await pixelOf(page, next, 'context-fill');
    await page.mouse.click(p.x, p.y);
    await page.waitForSelector('.preview #preview-drill');
    assert.equal((await page.textContent('.preview .preview-name')).trim(), units.find((u) => u.code === next).name);
    await page.click('#preview-drill');
    await page.waitForFunction((c) => window.__wangge.state.parent === c, next);
    await settled(page);
    assert.ok((await page.evaluate(() => window.__wangge.map.context.features.map((f) => f.properties.code))).includes(township.code));
    // Back while a tooltip shows: the tooltip of a unit no longer drawn goes.
    const village = units.find((u) => u.level === 2 && u.parent === next);
    const vp = await pixelOf(page, village.code);
    await page.mouse.move(vp.x, vp.y);
    await page.waitForSelector('#tooltip:not([hidden])');
    assert.match(await page.textContent('#tooltip'), new RegExp(village.name));
    await page.goBack();
    await page.waitForFunction((c) => window.__wangge.state.parent === c, township.code);
    await settled(page);
    assert.ok(await page.isHidden('#tooltip'), 'no stale tooltip after Back');
  });
});

test('language on the login page, Chinese months and grouped numbers on the trend, plain hot-spot classes, a refused range', async () => {
  await withBrowser({}, async ({ page }) => {
    // The language can be switched before signing in.
    await page.goto(`${svc.base}/`);
    await page.waitForSelector('#login-form');
    assert.match(await page.textContent('#login-form'), /用户名/);
    await page.click('#login-lang');
    await page.waitForFunction(() => /User name/.test(document.querySelector('#login-form')?.textContent));
    assert.equal((await page.textContent('#login-form button[type=submit]')).trim(), 'Sign in');
    await page.click('#login-lang');
    await page.waitForFunction(() => /用户名/.test(document.querySelector('#login-form')?.textContent));
    await loginAs(page, svc.base, admin().username, admin().password);
    // The trend's time axis names months in Chinese; its values are grouped.
    await page.waitForSelector('#trend[data-xticks]');
    const ticks = async () => page.$eval('#trend', (el) => ({
      x: JSON.parse(el.dataset.xticks).flatMap((v) => String(v ?? '').split('\n')),
      y: JSON.parse(el.dataset.yticks).map(String),
    }));
    const zh = await ticks();
    assert.ok(zh.x.some((v) => /^\d{1,2}月$/.test(v)), zh.x.join(' '));
    assert.ok(!zh.x.some((v) => /Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec/.test(v)), zh.x.join(' '));
    assert.ok(zh.y.some((v) => /^\d{1,3}(,\d{3})+$/.test(v)), `a grouped value: ${zh.y.join(' ')}`);
    // Each hot-spot layer says what its classes mean, in one sentence.
    await page.selectOption('#mode', 'hot');
    await settled(page);
    assert.match(await page.textContent('#legend .legend-explain'), /^红色热点：.*蓝色冷点.*灰色为没有明显聚集。$/);
    assert.match(await page.textContent('#legend'), /时段：/);
    await page.selectOption('#mode', 'lisa');
    await settled(page);
    assert.match(await page.textContent('#legend .legend-explain'), /^高-高、低-低：.*灰色为不显著。$/);
    await shot(page, 'lisa-explained');
    // A custom range that ends before it starts is refused aloud.
    await page.selectOption('#preset', 'custom');
    await page.fill('#from', '2026-05-01');
    await page.waitForFunction(() => window.__wangge.state.from === '2026-05-01');
    await settled(page);
    const before = await win(page);
    await page.fill('#to', '2026-04-01');
    await page.waitForSelector('#range-error:not([hidden])');
    assert.equal((await page.textContent('#range-error')).trim(), '起始日期须早于截止日期');
    assert.equal(await page.getAttribute('#to', 'aria-invalid'), 'true');
    assert.deepEqual(await win(page), before, 'the window is unchanged');
    await page.fill('#to', '2026-06-01');
    await page.waitForFunction(() => window.__wangge.state.to === '2026-06-01');
    assert.ok(await page.isHidden('#range-error'));
    assert.equal((await win(page)).from, '2026-05-01');
    await settled(page);
    // In English: the sentence and the month names follow.
    await page.selectOption('#preset', 'year');
    await page.click('#lang');
    await page.waitForFunction(() => window.__ready === true);
    await settled(page);
    assert.match(await page.textContent('#legend .legend-explain'), /^High-High and Low-Low: /);
    await page.selectOption('#mode', 'hot');
    await settled(page);
    assert.match(await page.textContent('#legend .legend-explain'), /^Red hot spots: /);
    await page.waitForSelector('#trend[data-xticks]');
    const en = await ticks();
    assert.ok(en.x.some((v) => /^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)$/.test(v)), en.x.join(' '));
  });
});

for (const [width, height, name] of [[768, 1024, 'tablet-portrait'], [1024, 768, 'tablet-landscape']]) {
  test(`a ${width}×${height} tablet: the map keeps 60% of the screen, controls are labelled and 44 px, the legend folds`, async () => {
    await withBrowser({ viewport: { width, height }, hasTouch: true }, async ({ page }) => {
      await loginAs(page, svc.base, admin().username, admin().password);
      await page.waitForSelector('#issues li[data-id]');
      const share = await page.evaluate(() => {
        const r = document.querySelector('#map').getBoundingClientRect();
        const w = Math.min(r.right, innerWidth) - Math.max(r.left, 0);
        const h = Math.min(r.bottom, innerHeight) - Math.max(r.top, 0);
        return (w * h) / (innerWidth * innerHeight);
      });
      assert.ok(share >= 0.6, `the map takes ${(share * 100).toFixed(1)}% of the screen`);
      // Every control a finger may need is at least 44 × 44 px.
      const small = await page.$$eval('button, select, input', (els) => els
        .filter((e) => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
        .map((e) => ({ id: e.id || e.className || e.textContent.trim().slice(0, 12), w: e.getBoundingClientRect().width, h: e.getBoundingClientRect().height }))
        .filter((b) => b.w < 44 || b.h < 44));
      assert.deepEqual(small, [], 'touch targets under 44 px');
      // Every drop-down carries a visible name (no hover titles on touch).
      const unlabelled = await page.$$eval('select', (els) => els
        .filter((e) => e.getClientRects().length)
        .filter((e) => !e.labels.length || ![...e.labels].some((l) => l.textContent.replace(e.textContent, '').trim() && l.getClientRects().length))
        .map((e) => e.id));
      assert.deepEqual(unlabelled, []);
      await shot(page, name);
      // The legend folds away and stays folded through a recolour.
      const tall = (await page.locator('#legend').boundingBox()).height;
      await page.click('#legend-toggle');
      assert.ok(await page.isHidden('#legend-body'));
      assert.ok((await page.locator('#legend').boundingBox()).height < tall / 2);
      await page.selectOption('#metric', 'incident_count');
      await page.waitForFunction(() => /案件数/.test(document.querySelector('#legend .legend-title').textContent));
      await settled(page);
      assert.ok(await page.isHidden('#legend-body'), 'still folded after a recolour');
      assert.equal((await page.textContent('#legend-toggle')).trim(), '展开图例');
      await shot(page, `${name}-legend-folded`);
      await page.click('#legend-toggle');
      assert.ok(await page.isVisible('#legend-body'));
      // A tap previews (no hover tooltip on touch) and 进入 drills.
      const { x, y } = await pixelOf(page, township.code);
      await page.touchscreen.tap(x, y);
      await page.waitForSelector('.preview #preview-drill');
      assert.equal((await page.textContent('.preview .preview-name')).trim(), township.name);
      assert.ok(await page.isHidden('#tooltip'), 'no tooltip from a tap');
      assert.equal(await page.evaluate(() => window.__wangge.state.parent), null);
      const close = await page.locator('.preview .maplibregl-popup-close-button').boundingBox();
      assert.ok(close.width >= 44 && close.height >= 44, `the preview closes with a 44 px target: ${JSON.stringify(close)}`);
      await shot(page, `${name}-preview`);
      await page.tap('#preview-drill');
      await page.waitForFunction((c) => window.__wangge.state.parent === c, township.code);
      await settled(page);
      assert.ok(await page.isHidden('#tooltip'));
      assert.equal(await page.locator('.preview').count(), 0);
    });
  });
}

test('a township leader\'s map starts at their township: its name at the root, only the tiers below it', async () => {
  const { execFileSync } = await import('node:child_process');
  const { BIN, PASSWORD } = await import('./service.mjs');
  execFileSync(BIN, ['user', 'add', '--data', svc.dataDir, '--role', 'leader', '--password', PASSWORD, '--scope', township.code, 'town-leader'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  await withBrowser({}, async ({ page }) => {
    await loginAs(page, svc.base, 'town-leader', PASSWORD);
    await page.waitForSelector('#crumbs .crumb');
    const crumbs = await page.$$eval('#crumbs .crumb', (els) => els.map((e) => e.textContent.trim()));
    assert.equal(crumbs[0], township.name, `the root is the township: ${crumbs}`);
    assert.ok(!crumbs.includes(county.name) && !crumbs.includes('全县'), `nothing above it: ${crumbs}`);
    const tiers = await page.$$eval('#tier option', (os) => os.map((o) => o.value));
    assert.deepEqual(tiers, ['2', '3'], 'no township tier of one township');
    // Its villages side by side in the compare tab.
    await page.click('#tabs button[data-tab=compare]');
    await page.waitForSelector('#league tbody tr');
    const villages = units.filter((u) => u.level === 2 && u.parent === township.code).length;
    assert.equal(await page.locator('#league tbody tr').count(), villages);
    // Grids of the township, then back to the root by its crumb.
    await page.selectOption('#tier', '3');
    await page.waitForFunction(() => window.__wangge.state.level === 3);
    assert.equal(await page.evaluate(() => window.__wangge.state.parent), township.code);
    await shot(page, 'township-leader-root');
  });
});

test('an admin overlays the event density; a grid chief is not offered it and the service refuses it', async () => {
  await withBrowser({}, async ({ page }) => {
    await loginAs(page, svc.base, admin().username, admin().password);
    assert.equal(await page.isVisible('#density'), true);
    const asked = page.waitForResponse((r) => r.url().includes('/api/v1/density'));
    await page.selectOption('#density', 'on');
    const res = await asked;
    assert.equal(res.status(), 200);
    const d = await res.json();
    assert.ok(d.events > 0 && d.max > 0, JSON.stringify({ events: d.events, max: d.max }));
    await page.waitForFunction(() => !!window.__wangge.map.map.getLayer('density'));
    await settled(page);
    const drawn = await page.evaluate(() => {
      const m = window.__wangge.map.map;
      const layers = m.getStyle().layers.map((l) => l.id);
      return { above: layers.indexOf('density') > layers.indexOf('fill'), loaded: m.isSourceLoaded('density') };
    });
    assert.deepEqual(drawn, { above: true, loaded: true });
    await shot(page, 'density-admin');
    await page.selectOption('#density', 'off');
    await page.waitForFunction(() => !window.__wangge.map.map.getLayer('density'));
  });
  const chief = svc.users.chief;
  await withBrowser({}, async ({ page }) => {
    await loginAs(page, svc.base, chief.username, chief.password);
    assert.equal(await page.isVisible('#density'), false);
  });
  const r = await apiAs(svc.base, chief, '/density');
  assert.equal(r.status, 403);
});

test('the emerging hot-spot layer colours each township by its category, with a bilingual legend', async () => {
  await withBrowser({}, async ({ page }) => {
    await loginAs(page, svc.base, admin().username, admin().password, '#level=1&metric=event_count');
    const asked = page.waitForResponse((r) => r.url().includes('/api/v1/hotspots/emerging'));
    await page.selectOption('#mode', 'emerging');
    const res = await asked;
    assert.equal(res.status(), 200);
    const body = await res.json();
    await settled(page);
    const painted = await page.evaluate(() => {
      const m = window.__wangge.map;
      return [...m.features.keys()].map((c) => m.map.getFeatureState({ source: 'units', sourceLayer: 'units', id: c }).cls ?? null);
    });
    const want = body.units.map((u) => u.category).sort();
    assert.deepEqual(painted.filter((x) => x !== null).sort(), want);
    const legend = await page.textContent('#legend');
    const present = new Set(want);
    for (const e of body.legend.filter((x) => present.has(x.category))) assert.ok(legend.includes(e.zh), `${e.zh} missing from ${legend}`);
    await shot(page, 'emerging-townships');
    // A rate has no space-time cube: the legend says so.
    await page.selectOption('#metric', 'resolution_rate');
    await settled(page);
    assert.ok((await page.textContent('#legend')).includes('只适用于计数指标'));
  });
});
