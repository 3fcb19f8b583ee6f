// The one place that knows the service's URLs and shapes (/api/v1, see
// issue 5's contract). Views call these functions and get plain objects;
// if the service differs, adapt here.

const BASE = '/api/v1';
let token = sessionStorage.getItem('wangge.token');

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, v);
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

async function request(method, path, { params = {}, body, base = BASE } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${base}${path}${qs(params)}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    let code = '';
    let message = '';
    try {
      const e = await res.json();
      code = e.code;
      message = e.message;
    } catch { /* not JSON */ }
    if (res.status === 401 && path !== '/login') onUnauthorized();
    throw new ApiError(res.status, code, message);
  }
  if (res.status === 204) return null;
  return res.json();
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) {
  onUnauthorized = f;
}

export function hasToken() {
  return !!token;
}

export async function login(username, password) {
  const r = await request('POST', '/login', { body: { username, password } });
  token = r.token;
  sessionStorage.setItem('wangge.token', token);
  return r.user;
}

export async function logout() {
  try {
    await request('POST', '/logout');
  } finally {
    token = null;
    sessionStorage.removeItem('wangge.token');
  }
}

export const me = () => request('GET', '/me').then((r) => r.user || r);
export const catalogue = () => request('GET', '/catalogue').then((r) => (Array.isArray(r) ? r : r.metrics));

/** GeoJSON FeatureCollection of one tier, optionally under a parent. */
export const units = (level, parent, zoom) => request('GET', '/units', { params: { level, parent, zoom } });
/** Units of a tier without geometry (bbox, t1/t2 codes): the map draws them from /tiles. */
export const unitBoxes = (level, parent) => request('GET', '/units', { params: { level, parent, geometry: 'bbox' } });

/** Kernel density of the event points (admins and analysts): a raster, north row first. */
export const density = (w, parent) => request('GET', '/density', { params: { ...w, parent } });

/** Repeat-complaint points (admins and analysts): same-category issues within 100 m and 30 days. */
export const repeats = (w, parent, min = 3) => request('GET', '/repeats', { params: { ...w, parent, min } });

/** The intranet basemap configured for the map ({tiles, attribution}), or null. */
export const basemap = () => request('GET', '/basemap');

/** Vector-tile URL template of a tier (the served grid version's tiles). */
export const tileUrl = (level) => `${location.origin}/tiles/${level}/{z}/{x}/{y}.mvt`;

/** The headers a request to the service needs (MapLibre's tile requests). */
export function authHeaders() {
  return token ? { Authorization: `Bearer ${token}` } : {};
}
export const unit = (code) => request('GET', `/units/${encodeURIComponent(code)}`);

/**
 * `w` is the window and filters: {from, to, kind, category}. Fetched as
 * parallel code and value arrays (no names: a third of the bytes at 50,000
 * grids), given back as `values: [{code, value}]`.
 */
export const mapValues = async (level, metric, w, parent) => {
  // The code list of a tier (and parent) rarely changes: it is sent once
  // and then named by its tag, so a recolour brings the values alone.
  const key = `${level}|${parent ?? ''}`;
  const held = codeLists.get(key);
  const r = await request('GET', '/map', { params: { level, metric, parent, shape: 'columns', codes_tag: held?.tag, ...w } });
  let codes = r.codes;
  if (codes) codeLists.set(key, { tag: r.codes_tag, codes });
  else if (held && held.tag === r.codes_tag) codes = held.codes;
  else throw new Error('map values without their code list');
  const values = r.values;
  r.values = codes.map((code, i) => ({ code, value: values[i] }));
  delete r.codes;
  return r;
};
/** Code lists of the map values by `level|parent`: {tag, codes}. */
const codeLists = new Map();
export const kpis = (code, w) => request('GET', `/units/${encodeURIComponent(code)}/kpis`, { params: w });
export const trend = (code, metric, grain, w) =>
  request('GET', '/trend', { params: { unit: code, metric, grain, ...w } });
export const compare = (code, metric, w) => request('GET', '/compare', { params: { unit: code, metric, ...w } });
export const hotspots = (level, metric, w, parent) =>
  request('GET', '/hotspots', { params: { level, metric, parent, ...w } });
/** Emerging hot spots: each unit's space-time category over the window's months. */
export const emerging = (level, metric, w, parent) =>
  request('GET', '/hotspots/emerging', { params: { level, metric, parent, grain: 'month', ...w } });
/**
 * Open issues of a unit, overdue first, as {total, page, items}; `w` is the
 * map's window and category filter ({from, to, category}): the list shows
 * the cases behind the colours. Issues only, so the kind filter is not sent.
 */
export const issues = (code, page = 1, perPage = 20, w = {}) =>
  request('GET', '/issues', {
    params: { unit: code, status: 'open', page, per_page: perPage, from: w.from, to: w.to, category: w.category },
  });
/** One issue, its position (lon, lat, tier3) and its history (state, time, unit dispatched to). */
export const caseOf = (id, system = '') =>
  request('GET', `/issues/${encodeURIComponent(id)}?system=${encodeURIComponent(system)}`);

/**
 * Event categories of every kind among the events the user may see, as
 * [{name, kind, events}], most frequent first within a kind; [] on failure
 * (the filter then hides itself).
 */
export async function categories() {
  try {
    const r = await request('GET', '/categories');
    return r.map((c) => ({ name: c.category, kind: c.kind, events: c.events }));
  } catch {
    return [];
  }
}

/**
 * URL of an export of what is on screen: `/export/metrics` gives every
 * metric of every visible unit of the tier with its polygon, as GeoParquet,
 * CSV or GeoJSON (cells under 5 events blanked for roles but analyst).
 */
export function exportUrl(format, level, metric, w, parent, what = 'metrics') {
  // CSV with a byte-order mark: Excel then reads the Chinese names as UTF-8.
  const bom = format === 'csv' ? true : undefined;
  // Events: the rows under the unit on screen, in the window and filters.
  const q = what === 'events' ? { parent, ...w, format, bom } : { level, parent, ...w, format, bom };
  return `${BASE}/export/${what}${qs(q)}`;
}

/** The file name a response names (RFC 6266 `filename*` first), else `fallback`. */
function filenameOf(res, fallback) {
  const d = res.headers.get('Content-Disposition') || '';
  const star = /filename\*=UTF-8''([^;]+)/i.exec(d);
  if (star) {
    try {
      return decodeURIComponent(star[1]);
    } catch {
      // A malformed name: the plain one below.
    }
  }
  const plain = /filename="([^"]+)"/i.exec(d);
  return plain ? plain[1] : fallback;
}

/** Downloads an export with the bearer token (a plain link would not carry it). */
export async function download(format, level, metric, w, parent, filename, what = 'metrics') {
  const res = await fetch(exportUrl(format, level, metric, w, parent, what), {
    headers: { Authorization: `Bearer ${token}` },
  });
  if (!res.ok) throw new ApiError(res.status, '', `HTTP ${res.status}`);
  const blob = await res.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  // The service names the file after the tier, unit, window and filters.
  a.download = filenameOf(res, filename);
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
