// Time window: presets (this month, last 3 months, this year, custom) as
// local dates [from, to), and the month-by-month play control.

import { state, set } from './state.js';
import { t } from './i18n.js';

const pad = (n) => String(n).padStart(2, '0');
export const ymd = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

/** [from, to) of a preset, relative to `now` (local time). */
export function presetWindow(preset, now = new Date()) {
  const y = now.getFullYear();
  const m = now.getMonth();
  switch (preset) {
    case 'month':
      return [ymd(new Date(y, m, 1)), ymd(new Date(y, m + 1, 1))];
    case '3m':
      return [ymd(new Date(y, m - 2, 1)), ymd(new Date(y, m + 1, 1))];
    case 'year':
    default:
      return [ymd(new Date(y, 0, 1)), ymd(new Date(y + 1, 0, 1))];
  }
}

/** The months [from, to) of a window, as [from, to) pairs. */
export function monthsOf(from, to) {
  const out = [];
  const [fy, fm] = from.split('-').map(Number);
  let d = new Date(fy, fm - 1, 1);
  while (ymd(d) < to) {
    const next = new Date(d.getFullYear(), d.getMonth() + 1, 1);
    out.push([ymd(d), ymd(next)]);
    d = next;
  }
  return out;
}

/**
 * Builds the window controls in `el`. `onPlay(months)` is called when play
 * starts (it returns a stop function); the window itself goes through set().
 */
export function mountWindow(el, { onPlay }) {
  el.innerHTML = `
    <select id="preset" aria-label="${t('window')}">
      <option value="month">${t('win_month')}</option>
      <option value="3m">${t('win_3m')}</option>
      <option value="year">${t('win_year')}</option>
      <option value="custom">${t('win_custom')}</option>
    </select>
    <span id="custom" hidden>
      <label>${t('date_from')} <input type="date" id="from"></label>
      <label>${t('date_to')} <input type="date" id="to"></label>
    </span>
    <button id="play" type="button">${t('play')}</button>
    <span id="playing" class="muted"></span>`;
  const preset = el.querySelector('#preset');
  const custom = el.querySelector('#custom');
  const from = el.querySelector('#from');
  const to = el.querySelector('#to');
  const play = el.querySelector('#play');
  const playing = el.querySelector('#playing');
  const sync = () => {
    preset.value = state.preset;
    custom.hidden = state.preset !== 'custom';
    from.value = state.from;
    to.value = state.to;
  };
  sync();
  preset.addEventListener('change', () => {
    if (preset.value === 'custom') {
      set({ preset: 'custom' });
    } else {
      const [f, tt] = presetWindow(preset.value);
      set({ preset: preset.value, from: f, to: tt });
    }
    sync();
  });
  for (const input of [from, to]) {
    input.addEventListener('change', () => {
      if (from.value && to.value && from.value < to.value) set({ from: from.value, to: to.value });
    });
  }
  let stop = null;
  play.addEventListener('click', async () => {
    if (stop) {
      stop();
      return;
    }
    play.textContent = t('stop');
    stop = await onPlay(monthsOf(state.from, state.to), (month) => {
      playing.textContent = month ? t('playing_month', { month }) : '';
    }, () => {
      stop = null;
      play.textContent = t('play');
      playing.textContent = '';
    });
  });
  return { sync };
}
