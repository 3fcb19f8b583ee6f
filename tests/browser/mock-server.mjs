// A stand-in for `wangge serve`, for front-end work without the Rust build:
// `node tests/browser/mock-server.mjs [port]`. Serves web/ and the vendor
// paths of web/VENDOR.md, and the /api/v1 contract of issue 5 over a
// synthetic square county (4×4 townships, 3×3 villages each, 2×2 grids
// each). The browser tests run against the real service, not this.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.woff2': 'font/woff2', '.json': 'application/json', '.map': 'application/json' };
const ROUTES = [['/vendor/maplibre-gl/', 'node_modules/maplibre-gl/dist/'], ['/vendor/uplot/', 'node_modules/uplot/dist/'], ['/glyphs/', 'web/glyphs/'], ['/', 'web/']];

function square(x, y, s) {
  const c = [[x, y], [x + s, y], [x + s, y + s], [x, y + s], [x, y]].map(([a, b]) => [114.8 + a, 38.3 + b]);
  return { type: 'Polygon', coordinates: [c] };
}
const DIGITS = '一二三四五六七八九十';
const units = [{ code: '130682', name: '定州市', level: 0, parent: null, geometry: square(0, 0, 0.48), households: 0 }];
for (let ti = 0; ti < 16; ti++) {
  const tx = (ti % 4) * 0.12, ty = Math.floor(ti / 4) * 0.12;
  const t = { code: `130682${String(100 + ti)}`, name: `${['东', '西', '南', '北'][ti % 4]}${DIGITS[ti % 10]}镇`, level: 1, parent: '130682', geometry: square(tx, ty, 0.12) };
  units.push(t);
  for (let vi = 0; vi < 9; vi++) {
    const vx = tx + (vi % 3) * 0.04, vy = ty + Math.floor(vi / 3) * 0.04;
    const v = { code: `${t.code}${String(200 + vi)}`, name: `${t.name.slice(0, 2)}${DIGITS[vi]}村`, level: 2, parent: t.code, geometry: square(vx, vy, 0.04) };
    units.push(v);
    for (let gi = 0; gi < 4; gi++) {
      units.push({ code: `${v.code}${String(300 + gi)}`, name: `第${DIGITS[gi]}网格`, level: 3, parent: v.code, geometry: square(vx + (gi % 2) * 0.02, vy + Math.floor(gi / 2) * 0.02, 0.02), households: 100 + ((vi * 37 + gi * 11) % 200) });
    }
  }
}
const byCode = new Map(units.map((u) => [u.code, u]));
const hash = (s) => { let h = 2166136261; for (const c of s) h = Math.imul(h ^ c.charCodeAt(0), 16777619); return (h >>> 0) / 4294967296; };
const value = (code, metric, from, to) => {
  const days = (Date.parse(to) - Date.parse(from)) / 864e5;
  if (metric.endsWith('_rate')) return 0.5 + 0.5 * hash(code + metric + from);
  return Math.round(days * (1 + 4 * hash(code + metric)) * (0.5 + hash(from + code)));
};
const CATALOGUE = [
  { name: 'event_count', label_zh: '事件总数', label_en: 'Events', unit: 'count', direction: 'neutral', kinds: ['issue', 'incident', 'visit'] },
  { name: 'incident_count', label_zh: '案件数', label_en: 'Incidents', unit: 'count', direction: 'higher_is_worse', kinds: ['incident'] },
  { name: 'resolution_rate', label_zh: '办结率', label_en: 'Resolution rate', unit: 'ratio', direction: 'higher_is_better', kinds: ['issue'] },
];
const users = { admin: { name: 'admin', role: 'admin', scopes: [] }, chief: { name: 'chief', role: 'chief', scopes: ['130682100200300'] } };
const tokens = new Map();

function inScope(user, code) {
  if (user.role !== 'chief') return true;
  return user.scopes.includes(code);
}
function children(level, parent, user) {
  return units.filter((u) => u.level === level && (!parent || isUnder(u, parent)) && (user.role !== 'chief' || user.scopes.includes(u.code)));
}
function isUnder(u, code) {
  for (let x = u; x; x = byCode.get(x.parent)) if (x.code === code) return true;
  return false;
}
const props = (u) => ({ code: u.code, name: u.name, level: u.level, parent: u.parent, households: u.households ?? null, area_km2: 10 });
const quant = (vals) => { const s = vals.filter((v) => v !== null).sort((a, b) => a - b); return [1, 2, 3, 4, 5].map((i) => s[Math.floor((s.length - 1) * i / 5)]); };

function api(req, url, user, body) {
  const q = Object.fromEntries(url.searchParams);
  const p = url.pathname.replace('/api/v1', '');
  if (p === '/me') return { user };
  if (p === '/logout') return {};
  if (p === '/catalogue') return CATALOGUE;
  if (p === '/categories') return [['incident', '盗窃', 40], ['issue', '矛盾纠纷', 120], ['issue', '环境卫生', 90], ['visit', '入户走访', 60]].map(([kind, category, events]) => ({ kind, category, events }));
  if (p === '/units') return { type: 'FeatureCollection', features: children(Number(q.level), q.parent, user).map((u) => ({ type: 'Feature', properties: props(u), geometry: u.geometry })) };
  const m = p.match(/^\/units\/([^/]+)(\/kpis)?$/);
  if (m) {
    const u = byCode.get(m[1]);
    if (!u || !inScope(user, u.code)) return 404;
    if (m[2]) return { code: u.code, name: u.name, kpis: CATALOGUE.map((c) => ({ metric: c.name, value: value(u.code, c.name, q.from, q.to), yoy: { abs: 3, pct: 0.05 }, mom: { abs: -2, pct: -0.03 } })) };
    const anc = [];
    for (let x = byCode.get(u.parent); x; x = byCode.get(x.parent)) anc.unshift({ code: x.code, name: x.name, level: x.level });
    return { unit: props(u), ancestors: anc, children: units.filter((c) => c.parent === u.code).map((c) => ({ code: c.code, name: c.name, level: c.level })) };
  }
  if (p === '/map') {
    const vals = children(Number(q.level), q.parent, user).map((u) => ({ code: u.code, name: u.name, value: hash(u.code) < 0.05 ? null : value(u.code, q.metric, q.from, q.to) }));
    const body = { metric: q.metric, values: vals, breaks: { quantile: quant(vals.map((v) => v.value)), jenks: quant(vals.map((v) => v.value)) }, no_data: vals.filter((v) => v.value === null).map((v) => v.code) };
    // shape=columns: parallel code and value arrays, as the service sends them.
    return q.shape === 'columns' ? { ...body, no_data: undefined, codes: vals.map((v) => v.code), values: vals.map((v) => v.value) } : body;
  }
  if (p === '/trend') return { series: Array.from({ length: 12 }, (_, i) => ({ period: `2026-${String(i + 1).padStart(2, '0')}`, value: 10 + 5 * hash(q.unit + i), ma: 12 })), alerts: [{ period: '2026-07', observed: 14.9, expected: 12, p: 0.004 }] };
  if (p === '/compare') {
    const kids = units.filter((c) => c.parent === q.unit);
    // The months of the window, as the service cuts a window of whole months.
    const spark_periods = [];
    for (let d = new Date(`${q.from.slice(0, 7)}-01T00:00:00Z`); d.toISOString().slice(0, 10) < q.to;) {
      const from = d.toISOString().slice(0, 10);
      d = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
      spark_periods.push({ label: from.slice(0, 7), from, to: d.toISOString().slice(0, 10) });
    }
    const rows = kids.map((c) => ({ code: c.code, name: c.name, value: value(c.code, q.metric, q.from, q.to) })).sort((a, b) => b.value - a.value)
      .map((r, i) => ({ ...r, rank: i + 1, prev_rank: 1 + Math.floor(hash(r.code) * kids.length), smoothed: r.value * 0.95, ci_low: r.value * 0.8, ci_high: r.value * 1.2, volume: Math.round(r.value), eligible: true, score: { total: 60 + 40 * hash(r.code), parts: [{ name: 'resolution_rate', points: 30, max: 40 }, { name: 'satisfaction_rate', points: 20, max: 30 }] }, spark: spark_periods.map((_, k) => hash(r.code + k)) }));
    return { spark_grain: 'month', spark_periods, rows };
  }
  if (p === '/hotspots') {
    const cls = ['hot99', 'hot95', 'hot90', 'ns', 'ns', 'ns', 'cold90', 'cold95', 'cold99'];
    return { moran: { i: 0.31, z: 4.2, p_norm: 0.0001, p_sim: 0.001 }, units: children(Number(q.level), q.parent, user).map((u) => ({ code: u.code, gi_z: 1, gi_p: 0.05, gi_class: cls[Math.floor(hash(u.code) * 9)], lisa: ['HH', 'LH', 'LL', 'HL', 'ns'][Math.floor(hash(u.code + 'l') * 5)] })) };
  }
  if (p === '/issues') {
    if (!byCode.has(q.unit) || !inScope(user, q.unit)) return 404;
    return { total: 3, page: 1, items: [1, 2, 3].map((i) => ({ id: `i${i}`, category: ['矛盾纠纷', '环境卫生', '道路交通'][i - 1], occurred_at: '2026-10-0' + i + 'T08:00:00+08:00', status: 'open', deadline: '2026-11-0' + i, overdue: i === 1, tier3: q.unit })) };
  }
  return 404;
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname.startsWith('/api/v1/')) {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const send = (status, obj) => { res.writeHead(status, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(obj)); };
      if (url.pathname === '/api/v1/login') {
        const { username, password } = JSON.parse(body || '{}');
        if (!users[username] || password !== 'pw') return send(401, { code: 'unauthorized', message: 'bad credentials' });
        const tok = `t${Math.random()}`;
        tokens.set(tok, users[username]);
        return send(200, { token: tok, expires_at: '2099-01-01T00:00:00Z', user: users[username] });
      }
      const user = tokens.get((req.headers.authorization || '').replace('Bearer ', ''));
      if (!user) return send(401, { code: 'unauthorized', message: 'log in' });
      const r = api(req, url, user, body);
      if (r === 404) return send(404, { code: 'not_found', message: 'not found' });
      return send(200, r);
    });
    return;
  }
  for (const [prefix, dir] of ROUTES) {
    if (!url.pathname.startsWith(prefix)) continue;
    let rel = decodeURIComponent(url.pathname.slice(prefix.length)) || 'index.html';
    const file = path.join(ROOT, dir, rel);
    if (!file.startsWith(path.join(ROOT, dir)) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) break;
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
    return;
  }
  res.writeHead(404);
  res.end();
});
const port = Number(process.argv[2] || 8899);
server.listen(port, '127.0.0.1', () => console.log(`mock on http://127.0.0.1:${port}/`));
