// Benchmark (not a timed test): navigation → the map's first `idle` with
// the 5,000-grid demo county drawn at tier 3, in the test browser. Prints
// the median of a few runs and the geometry payload. Usage:
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
  const zoom = 10;
  const fc = await fetch(`${svc.base}/api/v1/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: svc.users.admin.username, password: svc.users.admin.password }),
  }).then((r) => r.json()).then(({ token }) => fetch(`${svc.base}/api/v1/units?level=3&zoom=${zoom}`, { headers: { Authorization: `Bearer ${token}`, 'Accept-Encoding': 'gzip' } }));
  const body = await fc.arrayBuffer();
  const times = [];
  for (let i = 0; i < Number(o.runs); i++) {
    // A fresh navigation each run; the session token stays in sessionStorage.
    await b.page.goto('about:blank');
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
  }
  await b.page.evaluate(() => window.__wangge.settled());
  await shot(b.page, `bench-tier3-${grids}`);
  times.sort((x, y) => x - y);
  const kb = (body.byteLength / 1024).toFixed(0);
  console.log(`bench: navigation → first map idle, ${grids} grids at tier 3: median ${times[Math.floor(times.length / 2)].toFixed(0)} ms (runs: ${times.map((t) => t.toFixed(0)).join(', ')}); /units?level=3&zoom=${zoom} ${kb} KiB (${fc.headers.get('content-encoding') || 'identity'})`);
} finally {
  await b.close();
  svc.stop();
}
