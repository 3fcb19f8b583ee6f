// The front end in a real browser against the real service on loopback with
// a small demo county. One service and a fresh browser per test; every
// request must stay on 127.0.0.1; screenshots go to tests/artifacts/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { loginAs, shot, settled, renderedCodes, withBrowser, pixelOf } from './browser.mjs';
import { startService, demo, demoUnits, apiAs } from './service.mjs';

let svc;
let units = [];
let township;
let chiefGrid;
let otherGrid;

before(async () => {
  units = demoUnits(demo(600, 30000));
  township = units.find((u) => u.level === 1);
  const grids = units.filter((u) => u.level === 3);
  chiefGrid = grids[0];
  otherGrid = grids.find((g) => g.parent !== chiefGrid.parent);
  svc = await startService({ chiefGrid: chiefGrid.code, leaderScope: units.find((u) => u.level === 0)?.code ?? township.code });
});

after(() => svc?.stop());

const count = (level, parent) => units.filter((u) => u.level === level && (!parent || u.parent === parent)).length;

const fillClasses = (page) => page.evaluate(() => {
  const m = window.__wangge.map;
  return [...m.features.keys()].map((c) => m.map.getFeatureState({ source: 'units', sourceLayer: 'units', id: c }).cls ?? null);
});

test('the admin sees every township of the county, coloured, with a legend', async () => {
  await withBrowser({}, async ({ page }) => {
    await loginAs(page, svc.base, svc.users.admin.username, svc.users.admin.password);
    const expected = count(1);
    assert.ok(expected > 1);
    assert.equal(await page.evaluate(() => window.__wangge.map.features.size), expected);
    assert.equal((await renderedCodes(page)).length, expected);
    const classes = await fillClasses(page);
    assert.ok(new Set(classes.filter((c) => c !== null)).size > 1, 'units fall into several classes');
    assert.ok((await page.locator('#legend li').count()) >= 3);
    await page.waitForSelector('#kpis .kpi');
    await shot(page, 'admin-county');
  });
});

test('clicking a township drills down to its villages with a breadcrumb back up', async () => {
  await withBrowser({}, async ({ page }) => {
    await loginAs(page, svc.base, svc.users.admin.username, svc.users.admin.password);
    const { x, y } = await pixelOf(page, township.code);
    // A click previews (name, value, 进入) and selects; it does not drill yet.
    await page.mouse.click(x, y);
    await page.waitForSelector('.preview #preview-drill');
    await page.waitForFunction((c) => window.__wangge.state.selected === c, township.code);
    assert.equal(await page.evaluate(() => window.__wangge.state.parent), null);
    assert.equal((await page.textContent('.preview .preview-name')).trim(), township.name);
    assert.match(await page.textContent('.preview .preview-value'), /事件总数：[\d,]+/);
    await page.click('#preview-drill');
    await page.waitForFunction((c) => window.__wangge.state.parent === c, township.code);
    await settled(page);
    assert.equal(await page.evaluate(() => window.__wangge.state.level), 2);
    const villages = count(2, township.code);
    assert.equal(await page.evaluate(() => window.__wangge.map.features.size), villages);
    assert.equal((await renderedCodes(page)).length, villages);
    assert.match(await page.textContent('#crumbs .current'), new RegExp(township.name));
    await shot(page, 'admin-township');
    // A village drills down to its grids.
    const village = units.find((u) => u.level === 2 && u.parent === township.code);
    const p = await pixelOf(page, village.code);
    await page.mouse.click(p.x, p.y);
    await page.click('.preview #preview-drill');
    await page.waitForFunction((c) => window.__wangge.state.parent === c, village.code);
    await settled(page);
    assert.equal(await page.evaluate(() => window.__wangge.map.features.size), count(3, village.code));
    await shot(page, 'admin-village');
    // The browser's Back returns to the township, Forward to the village.
    await page.goBack();
    await page.waitForFunction((c) => window.__wangge.state.parent === c, township.code);
    await settled(page);
    assert.equal(await page.evaluate(() => window.__wangge.map.features.size), villages);
    await page.goForward();
    await page.waitForFunction((c) => window.__wangge.state.parent === c, village.code);
    await settled(page);
    // The breadcrumb goes back to the county.
    await page.click('#crumbs a.crumb >> nth=0');
    await page.waitForFunction(() => window.__wangge.state.parent === null);
    await settled(page);
    assert.equal(await page.evaluate(() => window.__wangge.map.features.size), count(1));
  });
});

test('changing the window changes the colours and the panel numbers', async () => {
  await withBrowser({}, async ({ page }) => {
    await loginAs(page, svc.base, svc.users.admin.username, svc.users.admin.password);
    await page.waitForSelector('#kpis .kpi');
    const before = { classes: await fillClasses(page), kpis: await page.textContent('#kpis'), legend: await page.textContent('#legend') };
    await shot(page, 'window-year');
    await page.selectOption('#preset', '3m');
    await page.waitForFunction(() => window.__wangge.state.preset === '3m');
    await settled(page);
    await page.waitForFunction((k) => document.querySelector('#kpis .kpi') && document.querySelector('#kpis').textContent !== k, before.kpis);
    const after = { classes: await fillClasses(page), kpis: await page.textContent('#kpis'), legend: await page.textContent('#legend') };
    assert.notEqual(after.kpis, before.kpis, 'panel numbers change');
    assert.ok(after.legend !== before.legend || JSON.stringify(after.classes) !== JSON.stringify(before.classes), 'colours change');
    await shot(page, 'window-3m');
    // The category filter offers every kind's categories, not only issues':
    // incidents list theirs, most frequent first, and choosing one filters.
    const cats = (await apiAs(svc.base, svc.users.admin, '/categories')).body.filter((c) => c.kind === 'incident');
    assert.ok(cats.length > 0, 'the demo has incident categories');
    await page.selectOption('#kind', 'incident');
    await page.waitForFunction(() => window.__wangge.state.kind === 'incident');
    const offered = await page.$$eval('#category option', (o) => o.map((x) => x.value).filter(Boolean));
    assert.deepEqual(offered, cats.map((c) => c.category));
    assert.equal(await page.isHidden('#category'), false);
    await page.selectOption('#category', cats[0].category);
    await page.waitForFunction((c) => window.__wangge.state.category === c, cats[0].category);
    await settled(page);
    // The legend says what the colours are of.
    await page.waitForFunction((c) => document.querySelector('#legend').textContent.includes(c), cats[0].category);
    assert.match(await page.textContent('#legend'), /类型：治安案件/);
    await shot(page, 'filter-incident-category');
    // A metric that does not apply to the kind says so instead of a silent grey map.
    // (The metric first, under all kinds: once 走访 is chosen, 结案率 is
    // offered disabled.)
    await page.selectOption('#kind', '');
    await page.selectOption('#metric', 'closure_rate');
    await page.selectOption('#kind', 'visit');
    await page.waitForFunction(() => window.__wangge.state.metric === 'closure_rate' && window.__wangge.state.kind === 'visit');
    await settled(page);
    await page.waitForSelector('#legend .legend-warn');
    assert.match(await page.textContent('#legend .legend-warn'), /结案率.*不适用/);
    // Metrics visits cannot have are disabled, with the reason in their name;
    // those they can have are not.
    const metrics = await page.$$eval('#metric option', (os) => os.map((o) => ({ v: o.value, off: o.disabled, text: o.textContent })));
    const byName = new Map(metrics.map((o) => [o.v, o]));
    assert.deepEqual(byName.get('closure_rate'), { v: 'closure_rate', off: true, text: '结案率（不适用于走访）' });
    assert.equal(byName.get('visit_count').off, false);
    assert.equal(byName.get('event_count').off, false);
    await page.selectOption('#kind', '');
    await page.waitForFunction(() => !document.querySelector('#metric option[value=closure_rate]').disabled);
  });
});

test('unit outlines are drawn only from the zoom where a unit is a few pixels wide', async () => {
  await withBrowser({}, async ({ page }) => {
    await loginAs(page, svc.base, svc.users.admin.username, svc.users.admin.password);
    await page.selectOption('#tier', '3');
    await page.waitForFunction(() => window.__wangge.state.level === 3);
    await settled(page);
    // The rule itself: the whole zoom at which the median unit is 6 px wide.
    const zooms = await page.evaluate(async () => {
      const { outlineZoom } = await import('/map.js');
      const units = (w, n) => Array.from({ length: n }, (_, i) => ({ bbox: [115 + i * w, 38, 115 + (i + 1) * w, 38 + w] }));
      return [outlineZoom(units(0.002, 50)), outlineZoom(units(0.02, 50)), outlineZoom([...units(0.002, 3), ...units(0.5, 2)]), outlineZoom([{}])];
    });
    assert.deepEqual(zooms, [11, 7, 11, 0]);
    // The demo's grids are wide enough at the county's zoom: outlined.
    const at = () => page.evaluate(() => {
      const m = window.__wangge.map.map;
      return { zoom: m.getZoom(), min: m.getLayer('border').minzoom, fill: m.queryRenderedFeatures({ layers: ['fill'] }).length, border: m.queryRenderedFeatures({ layers: ['border'] }).length };
    });
    const county = await at();
    assert.ok(county.min <= county.zoom && county.border > 0 && county.fill > 0, JSON.stringify(county));
    // Zoomed out below that zoom, the grids stay coloured but unoutlined.
    await page.evaluate((z) => window.__wangge.map.map.jumpTo({ zoom: z }), county.min - 1.5);
    await settled(page);
    const out = await at();
    assert.ok(out.fill > 0 && out.border === 0, JSON.stringify(out));
  });
});

test('a tier opens on the tiles in view, each laid out once; a selection leaves the fills alone', async () => {
  await withBrowser({}, async ({ page }) => {
    // Every tile request, and every tile each source lays out.
    const fetched = [];
    page.on('request', (r) => {
      const m = r.url().match(/\/tiles\/(\d)\/(\d+)\/(\d+)\/(\d+)\.mvt/);
      if (m) fetched.push({ level: Number(m[1]), z: Number(m[2]), key: m.slice(2).join('/') });
    });
    await loginAs(page, svc.base, svc.users.admin.username, svc.users.admin.password, '#level=3');
    const zoom = await page.evaluate(() => window.__wangge.map.map.getZoom());
    const tier3 = fetched.filter((t) => t.level === 3);
    assert.ok(tier3.length > 0);
    // No lower-zoom tile fetched as a placeholder while the tier loaded,
    // and no other tier's tiles at all.
    assert.deepEqual([...new Set(tier3.map((t) => t.z))], [Math.floor(zoom)], JSON.stringify({ zoom, tier3 }));
    assert.deepEqual(fetched.filter((t) => t.level !== 3), []);
    // Selecting a grid lays out the outlines' tiles only: the fills'
    // (the heavy ones) stay as they were.
    const loads = await page.evaluate(async (code) => {
      const m = window.__wangge.map.map;
      const seen = { units: 0, outlines: 0 };
      m.on('sourcedata', (e) => {
        if (e.tile && e.sourceId in seen) seen[e.sourceId]++;
      });
      await window.__wangge.set({ selected: code });
      await window.__wangge.settled();
      await window.__wangge.map.idle();
      return seen;
    }, chiefGrid.code);
    assert.equal(loads.units, 0, JSON.stringify(loads));
    assert.ok(loads.outlines > 0, JSON.stringify(loads));
  });
});

test('labels are drawn with real Chinese glyphs served by the service', async () => {
  await withBrowser({}, async ({ page }) => {
    const fonts = [];
    page.on('response', (r) => r.url().includes('/glyphs/') && fonts.push(r.status()));
    await loginAs(page, svc.base, svc.users.admin.username, svc.users.admin.password);
    const canvasShot = async (text) => {
      await page.evaluate((s) => window.__wangge.map.setLabelText(s), text);
      await settled(page);
      return page.locator('#map canvas').screenshot();
    };
    const a = await canvasShot('网格测试');
    const b = await canvasShot('社区街道');
    const none = await canvasShot('');
    assert.ok(fonts.length > 0 && fonts.every((s) => s === 200), `font served: ${fonts}`);
    assert.ok(!a.equals(none), 'labels are drawn at all');
    assert.ok(!a.equals(b), 'two different Chinese strings render differently (identical means boxes)');
    await page.evaluate(() => window.__wangge.map.setLabelText(null));
    await settled(page);
    await shot(page, 'labels-names');
  });
});

test('a leader sorts the league table and a row flies the map to its unit', async () => {
  const leader = svc.users.leader || svc.users.admin;
  await withBrowser({}, async ({ page }) => {
    await loginAs(page, svc.base, leader.username, leader.password);
    await page.click('#tabs button[data-tab=compare]');
    await page.waitForSelector('#league tbody tr');
    const rows = await page.locator('#league tbody tr').count();
    assert.equal(rows, count(1));
    const values = async () => page.$$eval('#league tbody tr', (trs) => trs.map((tr) => tr.dataset.code));
    const byRank = await values();
    await page.click('#league th[data-sort=name]');
    const names = await page.$$eval('#league tbody tr td:nth-child(2)', (tds) => tds.map((td) => td.textContent.trim()));
    assert.deepEqual(names, [...names].sort((x, y) => x.localeCompare(y, 'zh-CN')));
    await page.click('#league th[data-sort=rank]');
    await page.click('#league th[data-sort=rank]');
    const desc = await values();
    assert.deepEqual([...desc].sort(), [...byRank].sort(), 'the same rows, reordered');
    // A rank shared by units of one standing reads as a range ("3–18").
    const ranks = await page.$$eval('#league tbody tr td:first-child', (tds) => tds.map((td) => Number(td.textContent.split('–')[0])));
    assert.ok(ranks.every((r) => Number.isInteger(r) && r >= 1), ranks.join(' '));
    assert.deepEqual(ranks, [...ranks].sort((x, y) => y - x), 'clicking a header twice sorts descending');
    const center0 = await page.evaluate(() => window.__wangge.map.map.getCenter().toArray());
    await page.click('#league tbody tr >> nth=0');
    await page.waitForFunction(() => !window.__wangge.map.map.isMoving());
    await settled(page);
    const center1 = await page.evaluate(() => window.__wangge.map.map.getCenter().toArray());
    assert.notDeepEqual(center1, center0, 'the map flew to the row');
    await shot(page, 'leader-compare');
    // A label that carries its unit is not given it twice in the legend.
    await page.selectOption('#metric', 'response_hours');
    await page.waitForFunction(() => /响应时长/.test(document.querySelector('#legend').textContent));
    const legend = await page.textContent('#legend');
    assert.ok(!/\(小时\)（小时）/.test(legend), legend);
  });
});

test('the league table shows intervals for a count metric and every sparkline spans the window', async () => {
  const leader = svc.users.leader || svc.users.admin;
  await withBrowser({}, async ({ page }) => {
    await loginAs(page, svc.base, leader.username, leader.password);
    await page.click('#tabs button[data-tab=compare]');
    await page.waitForSelector('#league tbody tr');
    await page.selectOption('#metric', 'incident_count');
    await page.waitForFunction(() => document.querySelector('#league') && /案件数/.test(document.querySelector('#side').textContent));
    await settled(page);
    const rows = await page.locator('#league tbody tr').count();
    assert.equal(rows, count(1));
    // A count is ranked per 1,000 households, and says so.
    assert.match(await page.textContent('#basis'), /每千户/);
    // Ranked as a rate, it has a funnel plot: one dot a unit, coloured as the
    // table judges it, around the pooled level.
    await page.waitForSelector('#funnel');
    const dots = await page.$$eval('#funnel circle.fp-dot', (cs) => cs.map((c) => [c.dataset.code, c.classList.contains('better') ? 'good' : c.classList.contains('worse') ? 'bad' : '']));
    const standings = await page.$$eval('#league tbody tr', (trs) => trs.map((tr) => [tr.dataset.code, /good|bad/.exec(tr.children[2].className)?.[0] || '']));
    assert.ok(dots.length >= 2, 'dots drawn');
    for (const [code, cls] of dots) assert.equal(cls, new Map(standings).get(code), `dot ${code} as in the table`);
    assert.ok(await page.locator('#funnel polyline.fp-95').count() === 2 && await page.locator('#funnel line.fp-mean').count() === 1);
    // A count has an exact Poisson interval on every row: "lo – hi", lo ≤ value ≤ hi.
    const cells = await page.$$eval('#league tbody tr', (trs) => trs.map((tr) => ({
      value: tr.children[3].textContent.trim(),
      ci: tr.querySelector('td.ci').textContent.trim(),
    })));
    const num = (s) => Number(s.replace(/[^\d.]/g, ''));
    for (const c of cells) {
      const m = c.ci.match(/^([\d.,]+) – ([\d.,]+)$/);
      assert.ok(m, `interval shown for a count: ${JSON.stringify(c)}`);
      assert.ok(num(m[1]) <= num(c.value) && num(c.value) <= num(m[2]), JSON.stringify(c));
    }
    assert.ok((await page.getAttribute('#league th[data-col=interval]', 'title')).length > 0);
    // Every sparkline is drawn over the same periods, which are the window.
    const win = await page.evaluate(() => ({ from: window.__wangge.state.from, to: window.__wangge.state.to }));
    const sparks = await page.$$eval('#league svg.spark', (svgs) => svgs.map((s) => ({
      from: s.dataset.from,
      to: s.dataset.to,
      slots: Number(s.dataset.slots),
      xs: [...s.querySelectorAll('polyline')].flatMap((l) => l.getAttribute('points').split(' ').map((p) => Number(p.split(',')[0])))
        .concat([...s.querySelectorAll('circle')].map((c) => Number(c.getAttribute('cx')))),
    })));
    assert.equal(sparks.length, rows, 'one sparkline per row');
    const months = (Number(win.to.slice(0, 4)) - Number(win.from.slice(0, 4))) * 12 + Number(win.to.slice(5, 7)) - Number(win.from.slice(5, 7));
    // A window reaching past today is counted up to the end of today (Shanghai).
    const tomorrow = new Date(Date.now() + 8 * 3600e3 + 86400e3).toISOString().slice(0, 10);
    const end = win.to > tomorrow && win.from < tomorrow ? tomorrow : win.to;
    for (const sp of sparks) {
      assert.deepEqual([sp.from, sp.to], [win.from, end], 'the sparkline spans the window up to today');
      assert.equal(sp.slots, months, 'one slot per month of the window');
    }
    // Aligned: a count is known (zero or more) in the same periods for every
    // unit, so every row has its points at the same x positions.
    const withData = sparks.filter((sp) => sp.xs.length > 0);
    assert.ok(withData.length > 0);
    for (const sp of withData) assert.deepEqual(sp.xs, withData[0].xs);
    const lastMonth = new Date(Date.UTC(Number(win.to.slice(0, 4)), Number(win.to.slice(5, 7)) - 2, 1)).toISOString().slice(0, 7);
    assert.match(await page.textContent('#spark-axis'), new RegExp(`${win.from.slice(0, 7)} 至 ${lastMonth}`));
    await shot(page, 'leader-compare-count');
    // 案件数 has a direction: a rank change is good or bad. 事件总数 is
    // neutral: its arrows show movement, never a colour of merit.
    const judged = () => page.$$eval('#league tbody tr', (trs) => trs.map((tr) => tr.children[7].className));
    assert.ok((await judged()).some((c) => /good|bad/.test(c)), 'a directed metric colours rank changes');
    await page.selectOption('#metric', 'event_count');
    await page.waitForFunction(() => /事件总数/.test(document.querySelector('#side').textContent));
    await settled(page);
    await page.waitForSelector('#league tbody tr');
    assert.ok((await judged()).every((c) => !/good|bad/.test(c)), 'a neutral metric does not');
    await page.selectOption('#metric', 'incident_count');
    await page.waitForFunction(() => /案件数/.test(document.querySelector('#side').textContent));
    await settled(page);
    // A window reaching back before the first event: the months before it
    // keep their slots but carry no points (unknown, not zero).
    await page.selectOption('#preset', 'custom');
    await page.fill('#from', '2024-01-01');
    await page.fill('#to', '2025-01-01');
    await page.waitForSelector('#league svg.spark[data-from="2024-01-01"][data-to="2025-01-01"]');
    await settled(page);
    const early = await page.$$eval('#league svg.spark', (svgs) => svgs.map((s) => ({
      slots: Number(s.dataset.slots),
      points: Number(s.dataset.points),
      xs: [...s.querySelectorAll('polyline')].flatMap((l) => l.getAttribute('points').split(' ').map((p) => Number(p.split(',')[0]))),
    })));
    assert.equal(early.length, rows);
    for (const sp of early) {
      assert.equal(sp.slots, 12);
      assert.equal(sp.points, 2, 'November and December 2024 only');
      // Slots 10 and 11 of 0..11 on an 80-pixel line with 2 pixels each side.
      assert.deepEqual(sp.xs, [2 + (10 / 11) * 76, 78].map((x) => Number(x.toFixed(1))));
    }
    // No rank change against the year before the data: nothing to compare with.
    const changes = await page.$$eval('#league tbody tr td:nth-child(8)', (tds) => tds.map((td) => td.textContent.trim()));
    assert.ok(changes.every((c) => c === '—'), changes.join(' '));
    // The map shows the same window as the table (the last of the two date
    // changes wins): the top of its legend is the table's largest count (the
    // volume column; the value column is per 1,000 households).
    const top = Math.max(...(await page.$$eval('#league tbody tr td:nth-child(7)', (tds) => tds.map((td) => Number(td.textContent.replace(/[^\d.]/g, ''))))));
    assert.match(await page.textContent('#legend'), new RegExp(`(^|[^\\d.,])${top.toLocaleString('zh-CN')}(?![\\d.,])`));
    await shot(page, 'leader-compare-before-data');
  });
});

test('a grid chief on a tablet sees only their grid, and the API refuses another', async () => {
  const chief = svc.users.chief;
  await withBrowser({ viewport: { width: 1024, height: 768 } }, async ({ page }) => {
    await loginAs(page, svc.base, chief.username, chief.password);
    assert.deepEqual(await page.evaluate(() => [...window.__wangge.map.features.keys()]), [chiefGrid.code]);
    assert.deepEqual(await renderedCodes(page), [chiefGrid.code]);
    await page.waitForSelector('#kpis .kpi');
    assert.match(await page.textContent('#panel-title'), new RegExp(chiefGrid.name));
    await shot(page, 'chief-tablet');
    // The open cases, overdue first; a tap opens a case's history.
    await page.waitForSelector('#issues li[data-id]');
    const overdue = await page.$$eval('#issues li[data-id]', (ls) => ls.map((l) => l.classList.contains('overdue')));
    assert.deepEqual(overdue, [...overdue].sort((a, b) => b - a), 'overdue cases come first');
    const id = await page.getAttribute('#issues li[data-id] >> nth=0', 'data-id');
    await page.click('#issues li[data-id] >> nth=0 >> .case-open');
    await page.waitForSelector('#issues .case li:not(.muted)');
    const history = await apiAs(svc.base, chief, `/issues/${encodeURIComponent(id)}`);
    assert.equal(history.status, 200);
    const shown = await page.$$eval('#issues .case li', (ls) => ls.map((l) => l.textContent));
    assert.match(shown[0], /上报/);
    assert.equal(shown.length, 1 + Math.max(history.body.history.length, 1));
    for (const [k, s] of history.body.history.entries()) assert.ok(shown[k + 1].includes(s.state_zh), `${shown[k + 1]} shows ${s.state_zh}`);
    await shot(page, 'chief-case');
  });
  // Another grid's case is as unknown to the chief as a case that does not exist.
  const theirs = await apiAs(svc.base, svc.users.admin, `/issues?unit=${otherGrid.code}`);
  assert.ok(theirs.body.items.length > 0);
  assert.equal((await apiAs(svc.base, chief, `/issues/${encodeURIComponent(theirs.body.items[0].id)}`)).status, 404);
  assert.equal((await apiAs(svc.base, svc.users.admin, `/issues/${encodeURIComponent(theirs.body.items[0].id)}`)).status, 200);
  assert.equal((await apiAs(svc.base, chief, `/units/${otherGrid.code}`)).status, 404);
  assert.equal((await apiAs(svc.base, chief, `/units/${otherGrid.code}/kpis`)).status, 404);
  assert.equal((await apiAs(svc.base, chief, `/units/${chiefGrid.code}`)).status, 200);
});

test('an analyst sees the map; hot spots and English work; the export buttons show from the role', async () => {
  const analyst = svc.users.analyst || svc.users.admin;
  await withBrowser({}, async ({ page }) => {
    await loginAs(page, svc.base, analyst.username, analyst.password);
    assert.equal((await renderedCodes(page)).length, count(1));
    assert.ok(await page.isVisible('#export'), 'every role may export the metric table');
    // One button a format; GeoParquet arrives as a Parquet file.
    // Four formats of the metric table, and the event rows behind it.
    assert.equal(await page.locator('#export button[data-what=metrics]').count(), 4);
    assert.equal(await page.locator('#export button[data-what=metrics][data-format="xlsx"]').count(), 1);
    assert.ok(await page.isVisible('#export button[data-what=events]'), 'an analyst may export the events');
    const [events] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#export button[data-what=events]'),
    ]);
    // An xlsx workbook (a zip), named after the events and the window on screen.
    assert.equal(fs.readFileSync(await events.path()).subarray(0, 2).toString(), 'PK');
    const from = await page.evaluate(() => window.__wangge.state.from);
    assert.match(events.suggestedFilename(), new RegExp(`^wangge-events-.*${from}.*\\.xlsx$`));
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#export button[data-format="geoparquet"]'),
    ]);
    const bytes = fs.readFileSync(await download.path());
    assert.equal(bytes.subarray(0, 4).toString(), 'PAR1');
    assert.match(download.suggestedFilename(), /\.parquet$/);
    await page.selectOption('#mode', 'hot');
    await settled(page);
    assert.match(await page.textContent('#legend'), /热点 99%/);
    // Play steps month by month on one colour scale.
    await page.selectOption('#mode', 'metric');
    await settled(page);
    await page.click('#play');
    await page.waitForFunction(() => /^\d{4}-\d{2}$/.test(document.querySelector('#playing').dataset.month), null, { timeout: 60000 });
    // The classes, not the month named under them.
    const legend1 = await page.textContent('#legend ul');
    await page.waitForFunction((m) => document.querySelector('#playing').dataset.month !== m, await page.getAttribute('#playing', 'data-month'));
    assert.equal(await page.textContent('#legend ul'), legend1, 'the scale stays fixed while playing');
    await shot(page, 'analyst-play');
    await page.click('#play-stop');
    await page.selectOption('#mode', 'hot');
    await settled(page);
    await shot(page, 'analyst-hotspots');
    await page.selectOption('#mode', 'lisa');
    await settled(page);
    assert.match(await page.textContent('#legend'), /高-高/);
    await page.click('#lang');
    await page.waitForFunction(() => window.__ready === true);
    await settled(page);
    assert.equal((await page.textContent('#logout')).trim(), 'Sign out');
    assert.match(await page.textContent('#legend'), /High-High/);
    await shot(page, 'analyst-english');
  });
});
