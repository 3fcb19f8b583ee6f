// The map legend: classes with their bounds and the metric's unit, a
// no-data class, or the Gi*/LISA classes of the hot-spot layers.

import { t, getLang } from './i18n.js';
import { fmtShort, unitLabel } from './format.js';
import { NO_DATA, HOT_COLOURS, LISA_COLOURS, EMERGING_COLOURS } from './map.js';

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));

// Folded or not, across redraws (it is redrawn on every recolour): on a
// tablet the legend may be folded away to read the map under it.
let folded = false;

function render(el, title, items, note = '', context = [], warning = '', explain = '') {
  el.classList.toggle('folded', folded);
  el.innerHTML = `<div class="legend-head"><div class="legend-title">${esc(title)}</div>
    <button type="button" id="legend-toggle" aria-expanded="${!folded}" aria-controls="legend-body">${t(folded ? 'legend_show' : 'legend_hide')}</button></div>
    <div id="legend-body" class="legend-body">
    ${warning ? `<div class="legend-warn" role="alert">${esc(warning)}</div>` : ''}
    ${explain ? `<div class="legend-explain">${esc(explain)}</div>` : ''}
    <ul>${items.map((i) => `<li><span class="swatch" style="background:${i.colour}"></span>${esc(i.label)}</li>`).join('')}</ul>
    ${note ? `<div class="legend-note">${esc(note)}</div>` : ''}
    ${context.map((c) => `<div class="legend-note legend-filter">${esc(c)}</div>`).join('')}</div>`;
  el.querySelector('#legend-toggle').addEventListener('click', () => {
    folded = !folded;
    el.classList.toggle('folded', folded);
    const b = el.querySelector('#legend-toggle');
    b.textContent = t(folded ? 'legend_show' : 'legend_hide');
    b.setAttribute('aria-expanded', String(!folded));
  });
}

/** Classes (lower, upper], the first closed below; `uppers` as the service returns them. */
/**
 * `context`: lines saying what the colours are of (window, kind, category);
 * `warning`: why the map shows no data (a metric that does not apply).
 */
export function metricLegend(el, { title, unit, uppers, colours, min, method, noDataCount, context = [], warning = '' }) {
  const u = unitLabel(unit);
  const items = uppers.map((hi, i) => {
    const lo = i === 0 ? min : uppers[i - 1];
    const range = lo === hi ? fmtShort(hi, unit) : `${fmtShort(lo, unit)} – ${fmtShort(hi, unit)}`;
    return { colour: colours[i], label: i === 0 ? range : `> ${range}` };
  });
  items.push({ colour: NO_DATA, label: `${t('legend_no_data')}${noDataCount ? ` (${noDataCount})` : ''}` });
  // Labels such as 响应时长(小时) carry their unit already.
  const named = u && (title.includes(`(${u})`) || title.includes(`（${u}）`));
  render(el, u && !named ? `${title}（${u}）` : title, items, t('legend_breaks', { method: t(method) }), context, warning);
}

/** `context`: the window and filter lines, as for the metric legend. */
export function hotLegend(el, title, moranText, context = []) {
  const items = ['hot99', 'hot95', 'hot90', 'ns', 'cold90', 'cold95', 'cold99'].map((k) => ({ colour: HOT_COLOURS[k], label: t(k) }));
  items.push({ colour: NO_DATA, label: t('legend_no_data') });
  render(el, title, items, moranText, context, '', t('explain_hot'));
}

export function lisaLegend(el, title, moranText, context = []) {
  const items = ['HH', 'HL', 'LH', 'LL', 'ns'].map((k) => ({ colour: LISA_COLOURS[k], label: t(`lisa_${k}`) }));
  items.push({ colour: NO_DATA, label: t('legend_no_data') });
  render(el, title, items, moranText, context, '', t('explain_lisa'));
}

/**
 * The emerging hot-spot categories found among the units (`legend`: the
 * service's {category, zh, en} list), in the service's order.
 */
export function emergingLegend(el, title, legend, present, context = [], warning = '') {
  const zh = getLang() !== 'en';
  const items = legend.filter((e) => present.has(e.category))
    .map((e) => ({ colour: EMERGING_COLOURS[e.category] || NO_DATA, label: zh ? e.zh : e.en }));
  items.push({ colour: NO_DATA, label: t('legend_no_data') });
  render(el, title, items, '', context, warning, t('explain_emerging'));
}

/** Index of the class holding `v`: classes are (lower, upper], the first closed below. */
export function classify(v, uppers) {
  if (v === null || v === undefined || Number.isNaN(v) || uppers.length === 0) return null;
  for (let i = 0; i < uppers.length; i++) if (v <= uppers[i]) return i;
  return uppers.length - 1;
}

/** Quantile upper bounds of k classes, as the service computes them (for the play scale). */
export function quantileUppers(values, k = 5) {
  const s = values.filter((v) => v !== null && v !== undefined && !Number.isNaN(v)).sort((a, b) => a - b);
  if (!s.length) return [];
  const out = [];
  for (let i = 1; i <= k; i++) {
    const pos = ((s.length - 1) * i) / k;
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, s.length - 1);
    const v = s[lo] + (s[hi] - s[lo]) * (pos - lo);
    if (!out.length || out[out.length - 1] !== v) out.push(v);
  }
  return out;
}

export { esc };
