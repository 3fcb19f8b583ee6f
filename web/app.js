// Entry point: login, then the map view with its toolbar, breadcrumb,
// legend, tooltip and side panel (overview or league table). Reacts to
// state changes by fetching what changed and redrawing.

import * as api from './api.js';
import { t, setLang, getLang, applyI18n, metricLabel } from './i18n.js';
import { state, set, on, readHash, windowParams, metricDef, isChief } from './state.js';
import { showLogin } from './login.js';
import { UnitMap, PALETTES, HOT_COLOURS, LISA_COLOURS, EMERGING_COLOURS } from './map.js';
import { metricLegend, hotLegend, lisaLegend, emergingLegend, classify, quantileUppers, esc } from './legend.js';
import { mountWindow, presetWindow, monthsOf, ymd } from './timewin.js';
import { Player } from './play.js';
import { renderPanel } from './panel.js';
import { renderCompare } from './compare.js';
import { mountExport } from './export.js';
import { fmt } from './format.js';

const $ = (s) => document.querySelector(s);
let umap = null;
let county = null; // level-0 unit, if the service has one
let densityOn = false; // the event-density overlay
let repeatsOn = false; // the repeat-complaint points layer and list
let repeatSeq = 0; // the latest repeat-points fetch
let emergingNames = new Map(); // emerging hot-spot category → its name in the UI language
// The one township or village a leader or analyst is scoped to: the root of
// their breadcrumb and the top of their tier choices (null: the county).
let scopeRoot = null;
let current = new Map(); // code → {value} or hotspot row, for tooltips
let busy = 0;
let tab = 'overview';
let windowUi = null;
const player = new Player({
  load: loadMonths,
  show: showMonth,
  end: () => colour(),
  onChange: (s) => windowUi?.showPlay(s),
});
let colourSeq = 0; // the latest colour fetch: an older answer arriving later is dropped
// Unit records (self, ancestors) by code, asked once: the breadcrumb, the
// neighbours and case locating all need them.
const unitCache = new Map();

setLang(getLang());
applyI18n();
document.title = t('app_title');
api.setUnauthorizedHandler(() => {
  sessionStorage.removeItem('wangge.token');
  location.reload();
});
window.__wangge = { state, set, get map() { return umap; }, get current() { return current; }, settled };

main();

async function main() {
  $('#lang').addEventListener('click', () => {
    setLang(getLang() === 'en' ? 'zh-CN' : 'en');
    location.reload();
  });
  let user = null;
  if (api.hasToken()) user = await api.me().catch(() => null);
  if (!user) user = await showLogin($('#login'));
  await start(user);
}

async function start(user) {
  state.user = user;
  $('#app').hidden = false;
  $('#user').textContent = `${user.name} · ${t(`role_${user.role}`)}`;
  $('#logout').addEventListener('click', async () => {
    await api.logout().catch(() => {});
    location.hash = '';
    location.reload();
  });
  const [cat, cats, top, basemap] = await Promise.all([
    api.catalogue(),
    api.categories(),
    isChief() ? Promise.resolve(null) : api.unitBoxes(0).catch(() => null),
    api.basemap().catch(() => null),
  ]);
  state.catalogue = cat;
  county = top?.features?.[0]?.properties || null;
  const [from, to] = presetWindow('year');
  Object.assign(state, { from, to }, readHash());
  if (isChief()) Object.assign(state, { level: 3, parent: null });
  await openOnScope(user);
  if (!metricDef()) state.metric = cat[0]?.name;
  buildToolbar(cats);
  mountExport($('#export'), user.role);
  // Opening on the county: its tiles load while the units and values come.
  const around = !state.parent && !isChief() ? top?.features?.[0] : null;
  const first = around ? { level: state.level, around } : null;
  umap = new UnitMap($('#map'), { onClick, onHover, tileUrl: api.tileUrl, headers: api.authHeaders, basemap, first });
  on(onChange);
  window.addEventListener('resize', () => umap.resize());
  await refresh(new Set(['level']));
  window.__ready = true;
}

/**
 * A leader or analyst of one township or village opens on it rather than
 * on the county, and it is the root of their breadcrumb and tier choices.
 */
async function openOnScope(user) {
  if (!['leader', 'analyst'].includes(user.role) || (user.scopes || []).length !== 1) return;
  const u = await api.unit(user.scopes[0]).catch(() => null);
  const p = u?.unit?.properties || u?.unit;
  if (!p || !(p.level >= 1 && p.level < 3)) return;
  scopeRoot = { code: p.code, name: p.name, level: p.level };
  // A link into the scope keeps its place; anything above it starts at the root.
  if (!state.parent || state.level <= p.level) Object.assign(state, { parent: p.code, level: p.level + 1 });
}

function buildToolbar(cats) {
  const tier = $('#tier');
  // Only the tiers below the caller's root: a township leader has no
  // township tier to compare (it would be theirs alone).
  const top = scopeRoot ? scopeRoot.level + 1 : 1;
  tier.innerHTML = [1, 2, 3].filter((l) => l >= top)
    .map((l) => `<option value="${l}">${t(`tier_${l}`)}</option>`).join('');
  tier.hidden = isChief();
  $('#tier-field').hidden = isChief();
  tier.addEventListener('change', () => {
    const level = Number(tier.value);
    // The parent must sit above the tier drawn: go up as far as needed.
    const root = scopeRoot?.code ?? null;
    const parent = level === top ? root : state.parentLevel < level ? state.parent : root;
    set({ level, parent, selected: null });
  });
  const metric = $('#metric');
  // A metric the chosen kind cannot have (visits have no 办结率) is offered
  // disabled, with the reason in its name, rather than as a grey map.
  const fillMetrics = () => {
    const kindName = state.kind ? t(`kind_${state.kind}`) : '';
    metric.innerHTML = state.catalogue.map((m) => {
      const off = !!state.kind && Array.isArray(m.kinds) && !m.kinds.includes(state.kind);
      const label = off ? t('metric_not_for', { metric: metricLabel(m), kind: kindName }) : metricLabel(m);
      return `<option value="${esc(m.name)}"${off ? ' disabled' : ''}>${esc(label)}</option>`;
    }).join('');
    metric.value = state.metric;
  };
  fillMetrics();
  on((ch) => ch.has('kind') && fillMetrics());
  metric.addEventListener('change', () => set({ metric: metric.value }));
  const kind = $('#kind');
  kind.innerHTML = ['', 'issue', 'incident', 'visit'].map((k) => `<option value="${k}">${t(k ? `kind_${k}` : 'kind_all')}</option>`).join('');
  kind.addEventListener('change', () => set({ kind: kind.value, category: '' }));
  const category = $('#category');
  const fillCategories = () => {
    // One entry per name (a name may be used by two kinds), the most
    // frequent first.
    const counts = new Map();
    for (const c of cats) {
      if (!state.kind || c.kind === state.kind) counts.set(c.name, (counts.get(c.name) || 0) + (c.events || 0));
    }
    const list = [...counts].sort((a, b) => b[1] - a[1]).map(([name]) => name);
    category.innerHTML = `<option value="">${t('category_all')}</option>${list.map((c) => `<option>${esc(c)}</option>`).join('')}`;
    category.value = state.category;
    category.hidden = list.length === 0;
    $('#category-field').hidden = category.hidden;
  };
  fillCategories();
  category.addEventListener('change', () => set({ category: category.value }));
  on((ch) => ch.has('kind') && fillCategories());
  const mode = $('#mode');
  mode.innerHTML = ['metric', 'hot', 'lisa', 'emerging'].map((m) => `<option value="${m}">${t(`mode_${m}`)}</option>`).join('');
  mode.addEventListener('change', () => set({ mode: mode.value }));
  // Where events cluster inside the units: only for the roles that may see
  // event points (the service refuses the others).
  const density = $('#density');
  $('#density-field').hidden = !['admin', 'analyst'].includes(state.user.role);
  density.innerHTML = ['off', 'on'].map((v) => `<option value="${v}">${t(`density_${v}`)}</option>`).join('');
  density.addEventListener('change', () => {
    densityOn = density.value === 'on';
    refreshDensity().catch(showError);
  });
  on((ch) => ['parent', 'from', 'to', 'kind', 'category'].some((k) => ch.has(k)) && refreshDensity().catch(showError));
  // Repeat-complaint points are event points too: the same roles.
  const repeats = $('#repeats');
  $('#repeats-field').hidden = !['admin', 'analyst'].includes(state.user.role);
  repeats.innerHTML = ['off', 'on'].map((v) => `<option value="${v}">${t(`repeats_${v}`)}</option>`).join('');
  repeats.addEventListener('change', () => {
    repeatsOn = repeats.value === 'on';
    refreshRepeats().catch(showError);
  });
  on((ch) => ['parent', 'from', 'to', 'category'].some((k) => ch.has(k)) && refreshRepeats().catch(showError));
  for (const b of document.querySelectorAll('#tabs button')) {
    b.addEventListener('click', () => {
      tab = b.dataset.tab;
      for (const x of document.querySelectorAll('#tabs button')) x.classList.toggle('active', x === b);
      document.querySelector('aside').classList.toggle('wide', tab === 'compare');
      setTimeout(() => umap.resize(), 0);
      refreshSide();
    });
  }
  $('#tabs').hidden = isChief();
  windowUi = mountWindow($('#window'), { player });
  syncToolbar();
}

function syncToolbar() {
  $('#tier').value = String(state.level);
  $('#metric').value = state.metric;
  $('#kind').value = state.kind;
  $('#mode').value = state.mode;
}

async function onChange(changed) {
  syncToolbar();
  await refresh(changed);
}

/** Fetches and redraws what `changed` affects. */
async function refresh(changed) {
  busy++;
  try {
    const recolour = ['level', 'parent', 'metric', 'from', 'to', 'kind', 'category', 'mode'].some((k) => changed.has(k));
    // Values are fetched while the geometry loads, and painted once both are in.
    // While playing, the player paints: a change of metric, filter, tier or
    // window loads its months again (same month, same pause); leaving the
    // metric layer leaves playback.
    if (player.active && changed.has('mode') && state.mode !== 'metric') player.stop({ restore: false });
    const replay = player.active && ['level', 'parent', 'metric', 'from', 'to', 'kind', 'category'].some((k) => changed.has(k));
    const values = recolour && !player.active ? fetchColours() : null;
    const mine = values ? ++colourSeq : null;
    if (changed.has('level') || changed.has('parent')) {
      umap.clearCase();
      // What described the units left behind goes with them.
      umap.closePreview();
      $('#tooltip').hidden = true;
      // Colours go in as feature state before the geometry: one layout, not two.
      const [fc, around] = await Promise.all([fetchUnits(), neighbours(), breadcrumb()]);
      const v = values ? await values : null;
      if (v && mine === colourSeq) paintColours(v, fc, false);
      await umap.setContext(around?.fc || null, around || {});
      await umap.setUnits(fc, { level: state.level, filter: unitFilter(fc) });
      performance.mark('units-set');
      await umap.drawn;
      window.__firstIdleMs ??= performance.now();
    } else if (values) {
      const v = await values;
      if (mine === colourSeq) await paintColours(v);
    }
    if (replay) player.reload(monthsOf(state.from, state.to)).catch(showError);
    if (changed.has('selected')) umap.select(state.selected);
    if (['level', 'parent', 'selected', 'metric', 'from', 'to', 'kind', 'category'].some((k) => changed.has(k))) {
      await refreshSide();
    }
  } catch (e) {
    showError(e);
  } finally {
    busy--;
  }
}

function showError(e) {
  const el = $('#status');
  el.textContent = e.status === 404 ? t('not_found') : t('error', { message: e.message });
  el.hidden = false;
  setTimeout(() => { el.hidden = true; }, 5000);
}

async function fetchUnits() {
  const fc = await api.unitBoxes(state.level, state.parent);
  performance.mark('units-fetched');
  if (isChief()) {
    const scope = new Set(state.user.scopes || []);
    fc.features = fc.features.filter((f) => scope.has(f.properties.code) || scope.has(f.properties.parent));
  }
  $('#count').textContent = t('unit_count', { n: fmt(fc.features.length, 'count') });
  state.parentLevel = state.parent ? state.level - 1 : 0;
  return fc;
}

/**
 * Which units of the tier's tiles are drawn: those of `fc` (the tiles hold
 * every unit the caller may see; the filter keeps the parent's).
 */
function unitFilter(fc) {
  if (isChief()) return ['in', ['get', 'code'], ['literal', fc.features.map((f) => f.properties.code)]];
  if (!state.parent) return null;
  const p = fc.features[0]?.properties;
  const tier = p ? [1, 2].find((l) => p[`t${l}`] === state.parent) : null;
  return tier ? ['==', ['get', `t${tier}`], state.parent] : ['==', ['get', 'code'], ''];
}

/**
 * The units beside the one drilled into (its siblings), drawn greyed so that
 * a leader keeps their bearings; none at the top or for a grid chief.
 * Returns { fc, level, filter } for the map.
 */
async function neighbours() {
  if (!state.parent || isChief()) return null;
  try {
    const u = await unitInfo(state.parent);
    const p = u.unit?.properties || u.unit;
    if (!p || !(p.level >= 1)) return null;
    const fc = await api.unitBoxes(p.level, p.level === 1 ? null : p.parent);
    fc.features = fc.features.filter((f) => f.properties.code !== state.parent);
    const others = ['!=', ['get', 'code'], state.parent];
    const filter = p.level === 1 ? others : ['all', ['==', ['get', 't1'], p.parent], others];
    return { fc, level: p.level, filter };
  } catch {
    return null; // orientation only: the map works without it
  }
}

async function breadcrumb() {
  const el = $('#crumbs');
  if (isChief()) {
    el.innerHTML = `<span>${t('my_grids')}</span>`;
    return;
  }
  const crumbs = [scopeRoot || { code: null, name: county?.name || t('county'), level: 0 }];
  if (state.parent && state.parent !== scopeRoot?.code) {
    const u = await unitInfo(state.parent);
    // Ancestors come nearest first; the breadcrumb reads from the county down.
    const ancestors = [...(u.ancestors || [])].sort((a, b) => a.level - b.level);
    // Above a scoped caller's root there is nothing of theirs to go to.
    for (const a of ancestors) if (a.level > (scopeRoot?.level ?? 0)) crumbs.push(a);
    const self = u.unit?.properties || u.unit;
    crumbs.push({ code: state.parent, name: self?.name || state.parent, level: self?.level ?? state.level - 1 });
  }
  el.innerHTML = crumbs.map((c, i) => (i === crumbs.length - 1
    ? `<span class="crumb current">${esc(c.name)}</span>`
    : `<a href="#" class="crumb" data-code="${esc(c.code || '')}" data-level="${c.level}">${esc(c.name)}</a>`)).join('<span class="sep">›</span>');
  for (const a of el.querySelectorAll('a.crumb')) {
    a.addEventListener('click', (ev) => {
      ev.preventDefault();
      const level = Number(a.dataset.level) + 1;
      set({ parent: a.dataset.code || null, level, selected: a.dataset.code || null });
      $('#tier').value = String(level);
    });
  }
}

/** Draws (or clears) the event-density raster of the window, filters and unit drilled into. */
async function refreshDensity() {
  if (!densityOn) {
    await umap.setDensity(null);
    return;
  }
  const d = await api.density(windowParams(), state.parent);
  if (densityOn) await umap.setDensity(d);
}

/** The popup of a repeat-complaint point: category, counts and dates, no case text. */
function repeatPopup(p) {
  return `<div class="preview-body repeat-popup"><b class="preview-name">${esc(p.category)}</b>
    <div class="preview-value">${esc(t('repeats_count', { count: p.count, peak: p.peak }))}</div>
    <div class="muted">${esc(t('repeats_dates', { first: p.first, last: p.last }))}</div></div>`;
}

/** Most repeat points the side panel lists (the map draws them all). */
const REPEATS_LISTED = 100;

/** Draws (or clears) the repeat-complaint points of the window, category and unit drilled into, and their list. */
async function refreshRepeats() {
  const box = $('#repeats-list');
  const my = ++repeatSeq;
  if (!repeatsOn) {
    box.hidden = true;
    box.innerHTML = '';
    await umap.setRepeats(null);
    return;
  }
  const r = await api.repeats(windowParams(), state.parent);
  if (my !== repeatSeq || !repeatsOn) return;
  const points = r.clusters;
  const fc = {
    type: 'FeatureCollection',
    features: points.map((c, i) => ({
      type: 'Feature',
      id: i,
      geometry: { type: 'Point', coordinates: [c.lon, c.lat] },
      properties: { category: c.category, count: c.count, peak: c.peak, first: c.first, last: c.last },
    })),
  };
  await umap.setRepeats(fc, repeatPopup);
  const shown = points.slice(0, REPEATS_LISTED);
  box.innerHTML = `<h3>${t('repeats')} <span id="repeats-total" class="muted">${points.length}</span></h3>
    <div class="muted">${esc(t('repeats_explain'))}</div>
    ${points.length ? `<ol id="repeats-items">${shown.map((c, i) => `<li><a href="#" data-i="${i}">${esc(c.category)}</a>
      · ${esc(t('repeats_count', { count: c.count, peak: c.peak }))}
      <span class="muted">${esc(t('repeats_dates', { first: c.first, last: c.last }))}</span></li>`).join('')}</ol>` : `<p class="muted">${t('repeats_none')}</p>`}
    ${points.length > REPEATS_LISTED ? `<p class="muted">${t('repeats_more', { n: REPEATS_LISTED })}</p>` : ''}`;
  box.hidden = false;
  for (const a of box.querySelectorAll('a[data-i]')) {
    a.addEventListener('click', (ev) => {
      ev.preventDefault();
      const f = fc.features[Number(a.dataset.i)];
      umap.map.flyTo({ center: f.geometry.coordinates, zoom: Math.max(umap.map.getZoom(), 15), duration: 600 });
      umap.preview(f.geometry.coordinates, repeatPopup(f.properties));
    });
  }
}

/** Fetches what the current layer mode paints: metric values or hot spots. */
async function fetchColours() {
  const w = windowParams();
  const mode = state.mode;
  let r;
  if (mode === 'metric') r = await api.mapValues(state.level, state.metric, w, state.parent);
  else if (mode === 'emerging') {
    // A rate has no space-time cube: the legend says so instead of an error.
    r = await api.emerging(state.level, state.metric, w, state.parent).catch((e) => {
      if (e.status === 400) return { units: [], legend: [], refused: true };
      throw e;
    });
  } else r = await api.hotspots(state.level, state.metric, w, state.parent);
  performance.mark('values-fetched');
  return { mode, r };
}

/** Paints fetched colours; `fc` names the units about to be drawn (else those drawn). */
function paintColours({ mode, r }, fc, wait = true) {
  const m = metricDef() || {};
  const title = metricLabel(m);
  if (mode === 'metric') {
    current = new Map(r.values.map((v) => [v.code, v]));
    const uppers = r.breaks?.[state.breaks] || r.breaks?.quantile || quantileUppers(r.values.map((v) => v.value));
    paintValues(r.values, uppers, m, title, r.values.reduce((n, v) => n + (v.value === null), 0), fc);
  } else if (mode === 'emerging') {
    current = new Map(r.units.map((u) => [u.code, u]));
    const classOf = new Map(r.units.map((u) => [u.code, u.category]));
    emergingNames = new Map(r.legend.map((e) => [e.category, getLang() === 'en' ? e.en : e.zh]));
    umap.paint(classOf, EMERGING_COLOURS, fc);
    emergingLegend($('#legend'), `${t('mode_emerging')} · ${title}`, r.legend, new Set(classOf.values()),
      legendContext(m).context, r.refused ? t('emerging_count_only') : '');
  } else {
    current = new Map(r.units.map((u) => [u.code, u]));
    const key = mode === 'hot' ? 'gi_class' : 'lisa';
    const classOf = new Map(r.units.map((u) => [u.code, u[key] ?? null]));
    umap.paint(classOf, mode === 'hot' ? HOT_COLOURS : LISA_COLOURS, fc);
    const mo = r.moran || {};
    const note = mo.i === undefined ? '' : t('moran', { i: Number(mo.i).toFixed(3), z: Number(mo.z).toFixed(2), p: Number(mo.p_sim ?? mo.p_norm).toPrecision(2) });
    (mode === 'hot' ? hotLegend : lisaLegend)($('#legend'), `${t(`mode_${mode}`)} · ${title}`, note, legendContext(m).context);
  }
  performance.mark('painted');
  if (!wait) return null;
  return umap.idle().then(() => {
    // The benchmark's figure: the first idle with the units drawn and coloured.
    window.__firstIdleMs ??= performance.now();
  });
}

async function colour() {
  const mine = ++colourSeq;
  const v = await fetchColours();
  if (mine === colourSeq) await paintColours(v);
}

function palette(m) {
  const d = String(m.direction || 'neutral');
  return PALETTES[d] || PALETTES.neutral;
}

/**
 * `min`: the legend's lower bound and `span` the dates it names (playback
 * passes its fixed scale's bound and the month shown).
 */
function paintValues(values, allUppers, m, title, noDataCount, fc, min = null, span = null) {
  const uppers = [...new Set(allUppers.filter((x) => x !== null && x !== undefined))].sort((a, b) => a - b);
  const colours = palette(m).slice(5 - Math.min(5, Math.max(1, uppers.length)));
  const classOf = new Map(values.map((v) => [v.code, classify(v.value, uppers)]));
  umap.paint(classOf, colours, fc);
  // A loop, not Math.min(...values): 100,000 arguments overflow the stack.
  let least = Infinity;
  for (const v of values) if (v.value !== null && v.value !== undefined && v.value < least) least = v.value;
  metricLegend($('#legend'), {
    title, unit: m.unit, uppers, colours, min: min ?? (least === Infinity ? 0 : least), method: state.breaks, noDataCount,
    ...legendContext(m, span),
  });
}

/** What the colours are of (the window, kind and category filters), and why a metric shows nothing. */
function legendContext(m, span = null) {
  const { from, to } = span || state;
  // The service counts a window reaching past today up to today.
  const today = ymd(new Date());
  let last = to ? new Date(Date.parse(to) - 86400000).toISOString().slice(0, 10) : '';
  if (last > today && (from || '') <= today) last = today;
  const context = [t('legend_window', { from: from || '…', to: last || '…' })];
  if (state.kind) context.push(t('legend_kind', { kind: t(`kind_${state.kind}`) }));
  if (state.category) context.push(t('legend_category', { category: state.category }));
  const applies = !state.kind || !Array.isArray(m.kinds) || m.kinds.includes(state.kind);
  const warning = applies ? '' : t('legend_not_applicable', { metric: metricLabel(m), kind: t(`kind_${state.kind}`) });
  return { context, warning };
}

/**
 * Playback's months with the current metric, filters and tier, one request a
 * month (progress reported as they come in), on one colour scale pooled
 * over all months.
 */
async function loadMonths(months, progress) {
  if (state.mode !== 'metric') set({ mode: 'metric' });
  const ask = { level: state.level, metric: state.metric, w: windowParams(), parent: state.parent };
  const frames = [];
  for (const [from, to] of months) {
    const r = await api.mapValues(ask.level, ask.metric, { ...ask.w, from, to }, ask.parent);
    frames.push({ month: from.slice(0, 7), from, to, values: r.values });
    if (!progress(frames.length, months.length)) return null; // superseded: ask no more
  }
  const pooled = frames.flatMap((f) => f.values.map((v) => v.value)).filter((v) => v !== null && v !== undefined);
  const min = pooled.reduce((a, b) => Math.min(a, b), pooled.length ? Infinity : 0);
  return { frames, uppers: quantileUppers(pooled), min, metric: ask.metric };
}

/** Paints month `i` of playback on its fixed scale. */
function showMonth({ frames, uppers, min, metric }, i) {
  colourSeq++; // a window colour fetch still running must not paint over the month
  const m = metricDef(metric) || {};
  const f = frames[i];
  current = new Map(f.values.map((v) => [v.code, v]));
  // The legend names the month on screen, not the whole window.
  paintValues(f.values, uppers, m, metricLabel(m), null, null, min, { from: f.from, to: f.to });
}

/**
 * A click or tap previews a unit (name, value, a button to drill in) and
 * selects it for the side panel; it does not drill at once, so a value can
 * be read first. A greyed neighbour previews with a button to go there.
 */
function onClick(p, lngLat, neighbour = false) {
  $('#tooltip').hidden = true;
  const drill = !isChief() && p.level < 3;
  const line = neighbour ? '' : valueLine(p);
  const el = umap.preview(lngLat, `<div class="preview-body" data-code="${esc(p.code)}"><b class="preview-name">${esc(p.name)}</b>
    ${line ? `<div class="preview-value">${esc(line)}</div>` : ''}
    ${!neighbour && p.households != null ? `<div class="muted">${t('households')} ${fmt(p.households, 'count')}</div>` : ''}
    ${neighbour || drill ? `<button type="button" id="preview-drill" class="primary">${t(neighbour ? 'preview_go' : 'preview_drill')} ›</button>` : ''}</div>`);
  el.querySelector('#preview-drill')?.addEventListener('click', () => {
    umap.closePreview();
    set({ parent: p.code, level: p.level + 1, selected: p.code });
  });
  if (!neighbour) set({ selected: p.code });
}

/** The unit's value as the current layer shows it, in words. */
function valueLine(p) {
  const m = metricDef() || {};
  const c = current.get(p.code);
  if (state.mode === 'metric') return t('tooltip_value', { metric: metricLabel(m), value: fmt(c?.value, m.unit) });
  if (state.mode === 'emerging') {
    return c ? `${emergingNames.get(c.category) || c.category}${Number.isFinite(c.tau) ? ` (τ = ${Number(c.tau).toFixed(2)})` : ''}` : t('legend_no_data');
  }
  if (state.mode === 'hot') return `${t(c?.gi_class || 'ns')}${c?.gi_z != null ? ` (z = ${Number(c.gi_z).toFixed(2)})` : ''}`;
  return t(`lisa_${c?.lisa || 'ns'}`);
}

function onHover(p, ev) {
  const tip = $('#tooltip');
  if (!p) {
    tip.hidden = true;
    return;
  }
  tip.innerHTML = `<b>${esc(p.name)}</b><br>${esc(valueLine(p))}${p.households != null ? `<br>${t('households')} ${fmt(p.households, 'count')}` : ''}`;
  tip.hidden = false;
  const box = $('#map').getBoundingClientRect();
  tip.style.left = `${Math.min(ev.clientX - box.left + 14, box.width - 200)}px`;
  tip.style.top = `${ev.clientY - box.top + 14}px`;
}

/** The unit the side panel describes: the selection, else the parent, else the county. */
async function sideUnit() {
  const code = state.selected || state.parent || (isChief() ? null : county?.code);
  if (!code) {
    if (isChief() && umap.features.size === 1) return umap.features.values().next().value.properties;
    return null;
  }
  const f = umap.features.get(code);
  if (f) return f.properties;
  if (code === county?.code) return county;
  const u = await api.unit(code);
  return u.unit?.properties || u.unit;
}

async function refreshSide() {
  const unit = await sideUnit();
  if (tab === 'compare') {
    // The league table ranks the children of the unit whose children are drawn.
    const code = state.parent || county?.code;
    const parent = code ? (code === county?.code ? county : (await api.unit(code)).unit) : null;
    const p = parent?.properties || parent;
    await renderCompare($('#side'), p, (c) => {
      umap.flyTo(c);
      umap.select(c);
    });
  } else {
    await renderPanel($('#side'), unit, { onLocate: locateCase });
  }
}

/** A case picked in the side panel: on the map with a marker, its grid outlined. */
async function locateCase(c) {
  // The drawn units carry no geometry (the tiles do): the grid's outline
  // comes from its village's grids.
  const grid = c.tier3 ? await gridFeature(c.tier3).catch(() => null) : null;
  await umap.locate(c.lon ?? NaN, c.lat ?? NaN, grid);
}

/** The polygon of grid `code` when another tier is drawn: from its village's grids. */
async function gridFeature(code) {
  const u = await unitInfo(code);
  const p = u.unit?.properties || u.unit;
  const fc = await api.units(3, p.parent, 13);
  return fc.features.find((f) => f.properties.code === code) || null;
}

/** A unit's record (self, ancestors), asked once per code. */
function unitInfo(code) {
  if (!unitCache.has(code)) {
    const p = api.unit(code);
    p.catch(() => unitCache.delete(code));
    unitCache.set(code, p);
  }
  return unitCache.get(code);
}

/** Resolves when no refresh is running and the map is idle (tests). */
async function settled() {
  for (let i = 0; i < 600 && busy > 0; i++) await new Promise((r) => setTimeout(r, 50));
  await umap.idle();
}
