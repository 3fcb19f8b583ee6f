// Numbers as a reader expects them: rates as percentages, counts as
// integers with grouping, the catalogue unit after the value.

import { t, getLang } from './i18n.js';

const UNIT_KEYS = {
  per_km2: 'u_per_km2',
  per1000_households: 'u_per_1000_households',
  per_1000_households: 'u_per_1000_households',
  per100_visits: 'u_per_100_visits',
  per_100_visits: 'u_per_100_visits',
  per_grid: 'u_per_grid',
  hours: 'u_hours',
  score: 'u_score',
};

export function fmt(value, unit) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  const locale = getLang() === 'en' ? 'en-US' : 'zh-CN';
  if (unit === 'ratio') return `${(value * 100).toLocaleString(locale, { maximumFractionDigits: 1 })}%`;
  const digits = unit === 'count' || Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const s = value.toLocaleString(locale, { maximumFractionDigits: digits });
  return UNIT_KEYS[unit] ? `${s} ${t(UNIT_KEYS[unit])}` : s;
}

/** Short form for legends (no unit). */
export function fmtShort(value, unit) {
  if (value === null || value === undefined) return '—';
  if (unit === 'ratio') return `${Math.round(value * 1000) / 10}%`;
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return value.toLocaleString(getLang() === 'en' ? 'en-US' : 'zh-CN', { maximumFractionDigits: digits });
}

export function unitLabel(unit) {
  return UNIT_KEYS[unit] ? t(UNIT_KEYS[unit]) : unit === 'ratio' ? '%' : '';
}

/** Arrow and class for a change: good or bad depends on the metric's direction. */
export function changeArrow(abs, direction) {
  if (abs === null || abs === undefined || abs === 0) return { arrow: '→', cls: 'flat', word: t('flat') };
  const up = abs > 0;
  const dir = String(direction || '');
  const good = dir.includes('better') ? up : dir.includes('worse') ? !up : null;
  return { arrow: up ? '↑' : '↓', cls: good === null ? 'neutral' : good ? 'good' : 'bad', word: t(up ? 'up' : 'down') };
}
