// Benchmark (not a timed test): navigation → the map's first `idle` with
// the 5,000-grid demo county drawn at tier 3, in the test browser; then a
// recolour at tier 3 (another metric: values only, no geometry) and a
// drill (the county's townships → one township's villages), each until the
// map has settled. Prints the medians of a few runs and what the first
// paint downloaded (vector tiles and the unit list). Usage:
//   node tests/browser/bench.mjs [--grids 5000] [--events 100000] [--runs 3]

import { parseArgs } from 'node:util';
import { launch, loginAs, shot } from './browser.mjs';
import { startService, apiAs } from './service.mjs';

const { values: o } = parseArgs({ options: { grids: { type: 'string', default: '5000' }, events: { type: 'string', default: '100000' }, runs: { type: 'string', default: '3' } } });
const grids = Number(o.grids);
const svc = await startService({ grids, events: Number(o.events) });
const b = await launch();
try {
  await loginAs(b.page, svc.base, svc.users.admin.username, svc.users.admin.password);
  const times = [];
  // What the first paint downloaded of the units: the vector tiles (fetched
  // by MapLibre's workers, so counted from the responses) and the list.
  let payload = { tiles: [0, 0], list: [0, 0] };
  // What the last run's first view downloaded (counted until its idle).
  let firstView = payload;
  b.page.on('response', async (r) => {
    const u = r.url();
    const k = u.includes('/tiles/') ? 'tiles' : u.includes('/api/v1/units?') ? 'list' : null;
    if (!k) return;
    const body = await r.body().catch(() => null);
    if (body) payload[k] = [payload[k][0] + 1, payload[k][1] + body.length];
  });
  for (let i = 0; i < Number(o.runs); i++) {
    // A fresh navigation each run; the session token stays in sessionStorage.
    await b.page.goto('about:blank');
    payload = { tiles: [0, 0], list: [0, 0] };
    await b.page.goto(`${svc.base}/#level=3&metric=event_count&preset=year`);
    await b.page.waitForFunction(() => window.__ready === true, null, { timeout: 120000 });
    const ms = await b.page.evaluate(() => window.__firstIdleMs);
    const drawn = await b.page.evaluate(() => window.__wangge.map.features.size);
    times.push(ms);
    const marks = await b.page.evaluate(() => [
      ...performance.getEntriesByType('mark').map((m) => `${m.name} ${m.startTime.toFixed(0)}`),
      ...performance.getEntriesByType('resource').filter((r) => r.name.includes('/api/')).map((r) => `${r.name.replace(location.origin, '').slice(0, 60)} ${r.startTime.toFixed(0)}→${r.responseEnd.toFixed(0)}`),
    ]);
    if (process.env.WANGGE_BENCH_VERBOSE) console.log(marks.join('\n'));
    console.log(`run ${i + 1}: first idle ${ms.toFixed(0)} ms, ${drawn} grids`);
    firstView = JSON.parse(JSON.stringify(payload));
  }
  await b.page.evaluate(() => window.__wangge.settled());
  await shot(b.page, `bench-tier3-${grids}`);
  // Recolour and drill, timed from the change to the settled map.
  const timed = async (change) => {
    const t0 = Date.now();
    await b.page.evaluate(change);
    await b.page.evaluate(() => window.__wangge.settled());
    return Date.now() - t0;
  };
  const metrics = ['incident_count', 'issue_count', 'visit_count', 'event_count'];
  const recolour = [];
  const recolourMap = [];
  const nextFrame = [];
  // Per run: values fetched / feature states set / map idle, ms after the change.
  const parts = [];
  for (let i = 0; i < Number(o.runs); i++) {
    // Each metric once: a value request that misses the cache every time.
    // Timed twice: to the map idle with the new colours, and to the whole
    // page settled (the side panel's figures for the new window too).
    // The map's idle is MapLibre's first `idle` event after the new states
    // were set (listened for from the change on: waiting for it only once
    // the states are seen would ask for one more frame when the map is
    // already idle). The next frame after it is when the main thread is
    // free again, the new colours handed to the compositor.
    const [map, all, fetched, painted, frame] = await b.page.evaluate(async ([metric, from]) => {
      const m = window.__wangge.map.map;
      const t0 = performance.now();
      const painted = () => performance.getEntriesByName('painted').some((e) => e.startTime > t0);
      const idle = new Promise((resolve) => {
        const on = () => {
          if (!painted()) return;
          m.off('idle', on);
          resolve(performance.now() - t0);
        };
        m.on('idle', on);
      });
      const done = window.__wangge.set({ metric, from });
      const map = await idle;
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      const frame = performance.now() - t0;
      await done;
      await window.__wangge.settled();
      const after = (name) => (performance.getEntriesByName(name).find((e) => e.startTime > t0)?.startTime ?? NaN) - t0;
      return [map, performance.now() - t0, after('values-fetched'), after('painted'), frame];
    }, [metrics[i % metrics.length], `2025-0${1 + i}-01`]);
    recolourMap.push(Math.round(map));
    recolour.push(Math.round(all));
    nextFrame.push(Math.round(frame));
    parts.push(`${Math.round(fetched)}/${Math.round(painted)}/${Math.round(map)}`);
  }
  const towns = (await apiAs(svc.base, svc.users.admin, '/units?level=1')).body.features.map((f) => f.properties.code);
  const drill = [];
  for (let i = 0; i < Number(o.runs); i++) {
    await timed('window.__wangge.set({ level: 1, parent: null })');
    drill.push(await timed(`window.__wangge.set({ level: 2, parent: '${towns[i % towns.length]}' })`));
  }
  const med = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  console.log(`bench: recolour at tier 3 (${grids} grids, another metric and window) → map idle: median ${med(recolourMap)} ms (runs: ${recolourMap.join(', ')}); → the next frame after idle: median ${med(nextFrame)} ms (runs: ${nextFrame.join(', ')}); → page settled (side panel too): median ${med(recolour)} ms (runs: ${recolour.join(', ')}); values fetched / states set / idle: ${parts.join(', ')} ms`);
  console.log(`bench: drill county → one township's villages: median ${med(drill)} ms (runs: ${drill.join(', ')})`);
  times.sort((x, y) => x - y);
  const kb = (x) => (x / 1024).toFixed(0);
  console.log(`bench: navigation → first map idle, ${grids} grids at tier 3: median ${times[Math.floor(times.length / 2)].toFixed(0)} ms (runs: ${times.map((t) => t.toFixed(0)).join(', ')}); units drawn from ${firstView.tiles[0]} tiles (${kb(firstView.tiles[1])} KiB) and the unit list (${kb(firstView.list[1])} KiB), decoded sizes`);
} finally {
  await b.close();
  svc.stop();
}
