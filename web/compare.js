// Compare view for leaders: the league table of a unit's children for the
// chosen metric, with 95% intervals (every metric that has one, counts
// included), rank change, a sparkline per row and the assessment-score
// breakdown. Rates carry the funnel plot's standing (显著优于 / 无显著差异
// / 显著差于 against the pooled level); units of one standing share a rank
// range, and a rank change is shown only when the standing changed.
// Sortable by every column; clicking a row calls onPick(code)
// (the map flies there) and shows that row's score parts. Every sparkline
// is drawn over the same periods, which tile exactly the selected window,
// so a point at the same x is the same period in every row.

import * as api from './api.js';
import { t, metricLabel } from './i18n.js';
import { state, windowParams, metricDef } from './state.js';
import { fmt, fmtShort } from './format.js';
import { esc } from './legend.js';

let rows = [];
let periods = [];
let grain = 'month';
// per_1000_households: a count ranked per 1,000 households (the server's
// default where units have household data); as_is: the metric itself.
let basis = 'as_is';
// The funnel plot of a rate: {pooled, scale, model} (null for other metrics).
let funnel = null;
let sortKey = 'rank';
let sortAsc = true;
let seq = 0;

const COLUMNS = [
  ['rank', 'rank'], ['name', 'name'], ['standing', 'standing_order'], ['value', 'value'], ['interval', 'ci_low'], ['smoothed', 'smoothed'],
  ['volume', 'volume'], ['rank_change', 'change'], ['score', 'score_total'], ['spark', null],
];

export async function renderCompare(el, unit, onPick) {
  const my = ++seq;
  if (!unit) {
    el.innerHTML = `<p class="muted">${t('select_unit')}</p>`;
    return;
  }
  el.innerHTML = `<h2>${esc(t('compare_of', { name: unit.name }))}</h2><p class="muted">${esc(metricLabel(metricDef()))}</p><div class="muted">${t('loading')}</div>`;
  try {
    const r = await api.compare(unit.code, state.metric, windowParams());
    if (my !== seq) return;
    periods = r.spark_periods || [];
    grain = r.spark_grain || 'month';
    basis = r.basis || 'as_is';
    funnel = r.funnel || null;
    rows = r.rows.map((x) => ({
      ...x,
      change: x.rank_change ?? null,
      standing_order: x.standing ? { better: 0, as_expected: 1, worse: 2 }[x.standing] : null,
      score_total: x.score?.total ?? null,
    }));
  } catch (e) {
    if (my !== seq) return;
    el.innerHTML = `<p class="error">${esc(e.status === 404 ? t('not_found') : t('error', { message: e.message }))}</p>`;
    return;
  }
  draw(el, unit, onPick);
}

function draw(el, unit, onPick) {
  const m = metricDef() || {};
  const perHh = basis === 'per_1000_households';
  // The values, intervals and smoothed rates are per 1,000 households; the
  // volume column shows the count itself.
  const unitOf = perHh ? 'per_1000_households' : m.unit;
  const sorted = [...rows].sort((a, b) => {
    const x = a[sortKey];
    const y = b[sortKey];
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    const c = typeof x === 'string' ? x.localeCompare(y, 'zh-CN') : x - y;
    return sortAsc ? c : -c;
  });
  const axis = periods.length
    ? t('spark_axis', { from: periods[0].label, to: periods[periods.length - 1].label, grain: t(`grain_${grain}`) })
    : '';
  const titles = { interval: t('interval_title'), spark: axis, standing: t('standing_title') };
  // A rank is better or worse only for a metric with a direction (a
  // neutral count's arrow shows movement, not merit).
  const judged = String(m.direction || 'neutral') !== 'neutral';
  el.innerHTML = `<h2>${esc(t('compare_of', { name: unit.name }))}</h2><p class="muted">${esc(metricLabel(m))}</p>
    ${perHh ? `<p class="muted" id="basis">${esc(t('basis_per_1k'))}</p>` : ''}
    ${funnel ? funnelPlot(sorted, unitOf) : ''}
    <p class="muted" id="spark-axis">${esc(axis)}</p>
    <div class="table-wrap"><table id="league"><thead><tr>${COLUMNS.map(([label, key]) =>
      `<th data-col="${label}"${titles[label] ? ` title="${esc(titles[label])}"` : ''} ${key ? `data-sort="${key}" class="sortable${key === sortKey ? (sortAsc ? ' asc' : ' desc') : ''}"` : ''}>${t(label)}</th>`).join('')}</tr></thead>
    <tbody>${sorted.map((r) => `<tr data-code="${esc(r.code)}" class="${r.eligible === false ? 'ineligible' : ''}">
      <td class="num">${rankText(r)}</td>
      <td>${esc(r.name)}${r.eligible === false ? ` <span class="tag" title="${t('not_eligible')}">*</span>` : ''}</td>
      <td class="standing ${r.standing === 'better' ? 'good' : r.standing === 'worse' ? 'bad' : 'muted'}">${r.standing ? `${t(`standing_${r.standing}`)}${r.alarm ? ` <span class="tag" title="${esc(t('alarm_title'))}">!</span>` : ''}` : '—'}</td>
      <td class="num">${fmt(r.value, unitOf)}</td>
      <td class="num muted ci">${r.ci_low == null || r.ci_high == null ? '—' : `${fmtShort(r.ci_low, unitOf)} – ${fmtShort(r.ci_high, unitOf)}`}</td>
      <td class="num">${fmt(r.smoothed, unitOf)}</td>
      <td class="num">${fmt(perHh ? r.count : r.volume, 'count')}</td>
      <td class="num ${judged && r.change > 0 ? 'good' : judged && r.change < 0 ? 'bad' : ''}">${r.change === null ? '—' : r.change > 0 ? `↑${r.change}` : r.change < 0 ? `↓${-r.change}` : '→'}</td>
      <td class="num">${r.score_total === null ? '—' : fmt(r.score_total)}</td>
      <td>${spark(r.spark || [])}</td></tr>`).join('')}</tbody></table></div>
    <div id="score-parts"></div>`;
  for (const th of el.querySelectorAll('th[data-sort]')) {
    th.addEventListener('click', () => {
      const k = th.dataset.sort;
      if (sortKey === k) sortAsc = !sortAsc;
      else {
        sortKey = k;
        sortAsc = k === 'rank' || k === 'name';
      }
      draw(el, unit, onPick);
    });
  }
  for (const tr of el.querySelectorAll('tbody tr')) {
    tr.addEventListener('click', () => {
      for (const x of el.querySelectorAll('tbody tr.active')) x.classList.remove('active');
      tr.classList.add('active');
      const r = rows.find((x) => x.code === tr.dataset.code);
      showParts(el.querySelector('#score-parts'), r);
      onPick(tr.dataset.code);
    });
  }
}

// A rank shared by a standing's units reads as its range: 3–18.
/**
 * The funnel plot (Spiegelhalter 2005) of the rows: each unit's raw rate
 * against its volume (trials, or exposure), the pooled rate, and the 95%
 * and 99.8% control limits θ ± z·scale·√(θ(1−θ)/n) (proportions) or
 * θ ± z·scale·√(θ/e) (counts per exposure), as the service judged them.
 */
function funnelPlot(list, unitOf) {
  const pts = list.filter((r) => r.value != null && r.volume > 0);
  if (pts.length < 2) return '';
  const { pooled: theta, scale, model } = funnel;
  const sd = (n) => Math.sqrt(model === 'beta_binomial' ? (theta * (1 - theta)) / n : theta / n);
  const w = 320;
  const h = 190;
  const pad = { l: 46, r: 8, t: 8, b: 26 };
  const xs = pts.map((r) => r.volume);
  const x0 = Math.min(...xs) * 0.9;
  const x1 = Math.max(...xs) * 1.05;
  const grid = Array.from({ length: 41 }, (_, i) => x0 + ((x1 - x0) * i) / 40);
  const limit = (z, sign) => grid.map((n) => {
    const y = theta + sign * z * scale * sd(n);
    return model === 'beta_binomial' ? Math.min(1, Math.max(0, y)) : Math.max(0, y);
  });
  const inner = [limit(1.96, 1), limit(1.96, -1)];
  const outer = [limit(3.09, 1), limit(3.09, -1)];
  const ys = pts.map((r) => r.value).concat(inner.flat(), [theta]);
  const y0 = Math.min(...ys);
  const y1 = Math.max(...ys) === y0 ? y0 + 1 : Math.max(...ys);
  const X = (n) => pad.l + ((n - x0) / (x1 - x0)) * (w - pad.l - pad.r);
  const Y = (v) => pad.t + (1 - (Math.min(y1, Math.max(y0, v)) - y0) / (y1 - y0)) * (h - pad.t - pad.b);
  const line = (vals, cls) => `<polyline class="${cls}" fill="none" points="${grid.map((n, i) => `${X(n).toFixed(1)},${Y(vals[i]).toFixed(1)}`).join(' ')}"/>`;
  const dot = (r) => `<circle class="fp-dot ${r.standing || 'none'}" data-code="${esc(r.code)}" cx="${X(r.volume).toFixed(1)}" cy="${Y(r.value).toFixed(1)}" r="4"><title>${esc(`${r.name}: ${fmtShort(r.value, unitOf)}`)}</title></circle>`;
  return `<figure class="funnel"><svg id="funnel" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" data-pooled="${theta}" data-points="${pts.length}">
    ${outer.map((v) => line(v, 'fp-998')).join('')}${inner.map((v) => line(v, 'fp-95')).join('')}
    <line class="fp-mean" x1="${pad.l}" x2="${w - pad.r}" y1="${Y(theta).toFixed(1)}" y2="${Y(theta).toFixed(1)}"/>
    ${pts.map(dot).join('')}
    <text x="${pad.l - 4}" y="${pad.t + 8}" text-anchor="end">${esc(fmtShort(y1, unitOf))}</text>
    <text x="${pad.l - 4}" y="${h - pad.b}" text-anchor="end">${esc(fmtShort(y0, unitOf))}</text>
    <text x="${w - pad.r}" y="${h - 6}" text-anchor="end">${esc(t(model === 'beta_binomial' ? 'funnel_x' : 'funnel_x_exposure'))}</text>
  </svg><figcaption class="muted">${esc(t('funnel_caption'))}</figcaption></figure>`;
}

function rankText(r) {
  if (r.rank === null || r.rank === undefined) return '—';
  if (r.rank_low && r.rank_high && r.rank_low !== r.rank_high) return `${r.rank_low}–${r.rank_high}`;
  return String(r.rank);
}

function showParts(el, r) {
  const parts = r?.score?.parts || [];
  el.innerHTML = parts.length
    ? `<h3>${t('score_parts')} · ${esc(r.name)}</h3><ul class="parts">${parts.map((p) =>
      `<li><span class="part-name">${esc(metricLabel(metricDef(p.name)) || p.name)}</span><span class="bar"><span style="width:${p.max ? (100 * p.points) / p.max : 0}%"></span></span>
       <span class="num">${fmt(p.points)} / ${fmt(p.max)}</span></li>`).join('')}</ul>`
    : '';
}

/**
 * One row's sparkline over the shared periods: slot i sits at the same x in
 * every row; a period with no value (nothing recorded) leaves a gap, and the
 * line is scaled to the row's own range.
 */
function spark(values) {
  const n = periods.length;
  const w = 80;
  const h = 20;
  const pad = 2;
  const v = periods.map((_, i) => (values[i] === null || values[i] === undefined ? NaN : Number(values[i])));
  const finite = v.filter(Number.isFinite);
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const x = (i) => (n === 1 ? w / 2 : pad + (i / (n - 1)) * (w - 2 * pad));
  const y = (val) => h - pad - ((val - lo) / (hi - lo || 1)) * (h - 2 * pad);
  const runs = [];
  let run = [];
  v.forEach((val, i) => {
    if (Number.isFinite(val)) run.push([x(i), y(val)]);
    else if (run.length) { runs.push(run); run = []; }
  });
  if (run.length) runs.push(run);
  const marks = runs.map((r) => (r.length === 1
    ? `<circle cx="${r[0][0].toFixed(1)}" cy="${r[0][1].toFixed(1)}" r="1.5" fill="#3182bd"/>`
    : `<polyline fill="none" stroke="#3182bd" stroke-width="1.5" points="${r.map((p) => `${p[0].toFixed(1)},${p[1].toFixed(1)}`).join(' ')}"/>`)).join('');
  const first = periods[0];
  const last = periods[n - 1];
  return `<svg class="spark" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" data-slots="${n}" data-points="${finite.length}"${n ? ` data-from="${esc(first.from)}" data-to="${esc(last.to)}"` : ''}>${n ? `<title>${esc(`${first.label} – ${last.label}`)}</title>` : ''}${marks}</svg>`;
}
