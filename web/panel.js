// Side panel for the selected unit: KPIs with 同比/环比 arrows, the trend of
// the current metric (uPlot) with its alerts, and the open issues behind the
// colours: the same window and category as the map, a page at a time; a
// case opens its history and is located on the map.

import uPlot from '/vendor/uplot/uPlot.esm.js';
import * as api from './api.js';
import { t, metricLabel, getLang } from './i18n.js';
import { state, windowParams, metricDef } from './state.js';
import { fmt, changeArrow } from './format.js';
import { esc } from './legend.js';
import { ymd } from './timewin.js';

const HEADLINE = ['event_count', 'issue_count', 'incident_count', 'visit_count', 'closure_rate', 'on_time_closure_rate', 'handling_rate', 'satisfaction_rate', 'backlog_open', 'overdue_open', 'overdue_pending'];
// A page a tablet can scroll through; the service allows up to 500.
export const ISSUES_PER_PAGE = 20;
let plot = null;
let seq = 0;
let issueSeq = 0;

/**
 * Renders the panel for `unit` ({code, name, level, ...}); stale calls are
 * dropped. `onLocate(case)` shows a case on the map (case: the service's
 * case view with lon, lat and tier3).
 */
export async function renderPanel(el, unit, { onLocate = () => {} } = {}) {
  const my = ++seq;
  if (!unit) {
    el.innerHTML = `<p class="muted">${t('select_unit')}</p>`;
    return;
  }
  el.innerHTML = `<h2 id="panel-title">${esc(unit.name)}</h2>
    <div class="facts muted">${unit.households != null ? `${t('households')} ${fmt(unit.households, 'count')}` : ''}
      ${unit.area_km2 != null ? ` · ${t('area_km2')} ${fmt(unit.area_km2)}` : ''}</div>
    <h3>${t('kpis')}</h3><div id="kpis" class="kpis">${t('loading')}</div>
    <h3>${t('trend')} · ${esc(metricLabel(metricDef()))}</h3><div id="trend" class="trend"></div>
    <h3>${t('alerts')}</h3><ul id="alerts" class="alerts"></ul>
    <h3>${t('open_issues')} <span id="issues-total" class="muted"></span></h3><div id="issues-box"></div>`;
  const w = windowParams();
  // The trend stops at today: months still to come are not zeros.
  const tomorrow = ymd(new Date(Date.now() + 86400000));
  const tw = { ...w, to: w.to > tomorrow && w.from < tomorrow ? tomorrow : w.to };
  const days = (Date.parse(tw.to) - Date.parse(tw.from)) / 86400000;
  const grain = days <= 45 ? 'day' : days <= 120 ? 'week' : 'month';
  const cases = showIssues(el.querySelector('#issues-box'), el.querySelector('#issues-total'), unit, 1, onLocate);
  const [k, tr] = await Promise.allSettled([
    api.kpis(unit.code, w),
    api.trend(unit.code, state.metric, grain, tw),
  ]);
  if (my !== seq) return;
  renderKpis(el.querySelector('#kpis'), k);
  renderTrend(el.querySelector('#trend'), el.querySelector('#alerts'), tr, grain);
  await cases;
}

function failure(r) {
  return `<span class="error">${esc(r.reason?.status === 404 ? t('not_found') : t('error', { message: r.reason?.message }))}</span>`;
}

function renderKpis(el, r) {
  if (r.status !== 'fulfilled') {
    el.innerHTML = failure(r);
    return;
  }
  const byName = new Map(r.value.kpis.map((k) => [k.metric, k]));
  const names = HEADLINE.filter((n) => byName.has(n));
  if (!names.includes(state.metric) && byName.has(state.metric)) names.unshift(state.metric);
  el.innerHTML = names.map((n) => {
    const k = byName.get(n);
    const m = metricDef(n) || { name: n };
    const change = (key, c) => {
      if (!c || c.abs === null || c.abs === undefined) return `<span class="chg muted">${t(key)} —</span>`;
      const a = changeArrow(c.abs, m.direction);
      // The service gives pct in percent; a rate changes in percentage points.
      const pct = m.unit === 'ratio'
        ? ` ${(c.abs * 100).toFixed(1)}${t('pp')}`
        : c.pct === null || c.pct === undefined ? '' : ` ${c.pct > 0 ? '+' : ''}${c.pct.toFixed(1)}%`;
      return `<span class="chg ${a.cls}" title="${t(key)} ${a.word}">${t(key)} ${a.arrow}${pct}</span>`;
    };
    return `<div class="kpi" data-metric="${esc(n)}"><div class="kpi-label">${esc(metricLabel(m))}</div>
      <div class="kpi-value">${fmt(k.value, m.unit)}</div>${change('yoy', k.yoy)}${change('mom', k.mom)}</div>`;
  }).join('');
}

function toTime(period) {
  const s = String(period);
  const iso = /^\d{4}-\d{2}$/.test(s) ? `${s}-01` : /^\d{4}-W\d{2}$/.test(s) ? null : s.slice(0, 10);
  if (!iso) {
    const [y, wk] = s.split('-W').map(Number);
    return Date.UTC(y, 0, 1 + (wk - 1) * 7) / 1000;
  }
  return Date.parse(`${iso}T00:00:00`) / 1000;
}

// Month and weekday names for the trend's time axis in the reader's language.
const ZH_NAMES = {
  MMMM: ['一月', '二月', '三月', '四月', '五月', '六月', '七月', '八月', '九月', '十月', '十一月', '十二月'],
  MMM: ['1月', '2月', '3月', '4月', '5月', '6月', '7月', '8月', '9月', '10月', '11月', '12月'],
  WWWW: ['星期日', '星期一', '星期二', '星期三', '星期四', '星期五', '星期六'],
  WWW: ['日', '一', '二', '三', '四', '五', '六'],
};

function renderTrend(el, alertsEl, r) {
  if (plot) {
    plot.destroy();
    plot = null;
  }
  if (r.status !== 'fulfilled') {
    el.innerHTML = failure(r);
    alertsEl.innerHTML = '';
    return;
  }
  const { series = [], alerts = [] } = r.value;
  const m = metricDef() || {};
  const alertAt = new Map(alerts.map((a) => [String(a.period), a]));
  const xs = series.map((s) => toTime(s.period));
  const data = [xs, series.map((s) => s.value), series.map((s) => s.ma ?? null), series.map((s) => (alertAt.has(String(s.period)) ? s.value : null))];
  const width = Math.max(240, el.clientWidth || 300);
  plot = new uPlot({
    width,
    height: 160,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    ...(getLang() === 'en' ? {} : { fmtDate: (tpl) => uPlot.fmtDate(tpl, ZH_NAMES) }),
    axes: [{ size: 30, font: '11px WanggeSans, sans-serif' }, { size: 50, font: '11px WanggeSans, sans-serif', values: (u, v) => v.map((x) => fmtAxis(x, m.unit)) }],
    // The tick labels drawn, for reading back (they are pixels on a canvas).
    hooks: { draw: [(u) => {
      el.dataset.xticks = JSON.stringify(u.axes[0]._values || []);
      el.dataset.yticks = JSON.stringify(u.axes[1]._values || []);
    }] },
    series: [
      {},
      { label: metricLabel(m), stroke: '#3182bd', width: 2, points: { show: series.length < 40 } },
      { label: t('moving_avg'), stroke: '#999', width: 1, dash: [4, 3], points: { show: false } },
      { label: t('alerts'), stroke: 'transparent', points: { show: true, size: 9, fill: '#d7191c', stroke: '#d7191c' } },
    ],
  }, data, el);
  // By date, and p in words a reader can weigh: below 0.001 it is 极显著.
  const pText = (p) => (Number(p) < 0.001 ? t('p_tiny') : Number(p).toFixed(3));
  alertsEl.innerHTML = alerts.length
    ? [...alerts].sort((a, b) => String(a.period).localeCompare(String(b.period))).map((a) => `<li>${esc(t('alert_row', { period: a.period, observed: fmt(a.observed, m.unit), expected: fmt(a.expected, m.unit), p: pText(a.p) }))}</li>`).join('')
    : `<li class="muted">${t('no_alerts')}</li>`;
}

function fmtAxis(x, unit) {
  if (x === null) return '';
  const locale = getLang() === 'en' ? 'en-US' : 'zh-CN';
  return unit === 'ratio' ? `${Math.round(x * 100)}%` : (Math.round(x * 100) / 100).toLocaleString(locale);
}

/**
 * One page of the unit's open issues in `box`, with previous/next; the list
 * follows the map's window and category. A kind filter other than 群众诉求
 * has no issues to list: a note says so rather than an unrelated list.
 */
async function showIssues(box, totalEl, unit, page, onLocate) {
  const my = ++issueSeq;
  if (state.kind && state.kind !== 'issue') {
    totalEl.textContent = '';
    box.innerHTML = `<p class="muted" id="issues-note">${esc(t('issues_kind_note', { kind: t(`kind_${state.kind}`) }))}</p>`;
    return;
  }
  box.setAttribute('aria-busy', 'true');
  let r;
  try {
    r = { status: 'fulfilled', value: await api.issues(unit.code, page, ISSUES_PER_PAGE, windowParams()) };
  } catch (e) {
    r = { status: 'rejected', reason: e };
  }
  if (my !== issueSeq || !box.isConnected) return;
  box.removeAttribute('aria-busy');
  if (r.status !== 'fulfilled') {
    box.innerHTML = `<ul id="issues" class="issues"><li>${failure(r)}</li></ul>`;
    return;
  }
  const { total, items } = r.value;
  const pages = Math.max(1, Math.ceil(total / ISSUES_PER_PAGE));
  totalEl.textContent = t('open_issues_total', { n: fmt(total, 'count') });
  box.innerHTML = `<ul id="issues" class="issues">${items.length
    ? items.map((i) => `<li class="${i.overdue ? 'overdue' : ''}" data-id="${esc(i.id)}" data-system="${esc(i.system || '')}" data-grid="${esc(i.tier3 || '')}">
        <button type="button" class="case-open" aria-expanded="false" title="${esc(t('case_show'))}"><b>${esc(i.category)}</b></button>
        ${i.state_zh ? `<span class="tag">${esc(stateName(i))}</span>` : ''}
        <span class="muted">${t('occurred')} ${esc(stamp(i.occurred_at))}</span>
        ${i.deadline ? `<span class="muted">${t('deadline')} ${esc(String(i.deadline).slice(0, 10))}</span>` : ''}
        ${i.overdue ? `<span class="tag bad">${t('overdue')}</span>` : ''}
        ${i.duplicate ? `<span class="tag" title="${esc(t('duplicate_note'))}">${t('duplicate')}</span>` : ''}</li>`).join('')
    : `<li class="muted">${t('no_items')}</li>`}</ul>
    ${total > ISSUES_PER_PAGE ? `<nav class="pager" aria-label="${esc(t('pages'))}">
      <button type="button" id="issues-prev" ${page <= 1 ? 'disabled' : ''}>‹ ${t('page_prev')}</button>
      <span id="issues-page">${esc(t('page_of', { n: fmt(page, 'count'), m: fmt(pages, 'count') }))}</span>
      <button type="button" id="issues-next" ${page >= pages ? 'disabled' : ''}>${t('page_next')} ›</button></nav>` : ''}`;
  for (const b of box.querySelectorAll('.case-open')) {
    b.addEventListener('click', () => toggleCase(b.closest('li'), b, onLocate));
  }
  const go = (p) => showIssues(box, totalEl, unit, p, onLocate);
  box.querySelector('#issues-prev')?.addEventListener('click', () => go(page - 1));
  box.querySelector('#issues-next')?.addEventListener('click', () => go(page + 1));
}

const stamp = (s) => String(s ?? '').slice(0, 16).replace('T', ' ');
const stateName = (x) => (document.documentElement.lang.startsWith('zh') ? x.state_zh : x.state.replace('_', ' '));

/** Opens or closes the history of the case of list item `li`; opening also locates it on the map. */
async function toggleCase(li, button, onLocate) {
  const open = li.querySelector('.case');
  if (open) {
    open.remove();
    button.setAttribute('aria-expanded', 'false');
    return;
  }
  button.setAttribute('aria-expanded', 'true');
  const box = document.createElement('ol');
  box.className = 'case';
  box.setAttribute('aria-label', t('case_history'));
  box.innerHTML = `<li class="muted">${t('loading')}</li>`;
  li.append(box);
  try {
    const c = await api.caseOf(li.dataset.id, li.dataset.system);
    for (const x of li.parentElement?.querySelectorAll('li.located') || []) x.classList.remove('located');
    li.classList.add('located');
    onLocate(c);
    const steps = [`<li><span class="when">${esc(stamp(c.occurred_at))}</span> ${t('case_reported')}</li>`]
      .concat(c.history.map((s) => `<li><span class="when">${esc(stamp(s.at))}</span> <b>${esc(stateName(s))}</b>
        ${s.to_unit ? `<span class="muted">${esc(t('case_to', { unit: s.to_unit }))}</span>` : ''}
        ${s.deadline ? `<span class="muted">${esc(t('case_new_deadline', { d: String(s.deadline).slice(0, 10) }))}</span>` : ''}</li>`));
    if (!c.history.length) steps.push(`<li class="muted">${t('case_no_steps')}</li>`);
    if (c.duplicate_of) steps.push(`<li class="muted">${esc(t('case_duplicate_of', { id: c.duplicate_of }))}</li>`);
    box.innerHTML = steps.join('');
  } catch (e) {
    box.innerHTML = `<li class="error">${esc(e.status === 404 ? t('not_found') : t('error', { message: e.message }))}</li>`;
  }
}
