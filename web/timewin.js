// Time window: presets (this month, last 3 months, this year, custom) as
// local dates [from, to), and the controls of month-by-month playback
// (play.js plays).

import { state, set } from './state.js';
import { t, getLang } from './i18n.js';

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
 * Builds the window controls in `el`: the presets, a custom range (an
 * invalid one says so and changes nothing) and the playback controls of
 * `player` (play/pause, a month back or forward, a slider over the months,
 * the month shown and a progress bar while the months load). The window
 * itself goes through set(); the returned showPlay(status) redraws the
 * playback controls.
 */
export function mountWindow(el, { player }) {
  el.innerHTML = `
    <label class="field"><span class="field-label">${t('window')}</span>
    <select id="preset">
      <option value="month">${t('win_month')}</option>
      <option value="3m">${t('win_3m')}</option>
      <option value="year">${t('win_year')}</option>
      <option value="custom">${t('win_custom')}</option>
    </select></label>
    <span id="custom" hidden>
      <label class="field"><span class="field-label">${t('date_from')}</span><input type="date" id="from"></label>
      <label class="field"><span class="field-label">${t('date_to')}</span><input type="date" id="to"></label>
      <span id="range-error" class="error" role="alert" hidden></span>
    </span>
    <span class="player" role="group" aria-label="${t('playback')}">
      <button id="play" type="button">${t('play')}</button>
      <span id="play-controls" hidden>
        <button id="play-prev" type="button" title="${t('play_prev')}">◀ ${t('play_prev_short')}</button>
        <input id="play-slider" type="range" min="0" max="0" step="1" value="0" aria-label="${t('play_month')}">
        <button id="play-next" type="button" title="${t('play_next')}">${t('play_next_short')} ▶</button>
        <button id="play-stop" type="button">${t('stop')}</button>
      </span>
      <span id="play-progress" hidden><progress id="play-bar" max="1" value="0"></progress> <span id="play-progress-text"></span></span>
      <span id="playing" class="playing" aria-live="polite"></span>
    </span>`;
  const $ = (s) => el.querySelector(s);
  const preset = $('#preset');
  const custom = $('#custom');
  const from = $('#from');
  const to = $('#to');
  const rangeError = $('#range-error');
  const sync = () => {
    preset.value = state.preset;
    custom.hidden = state.preset !== 'custom';
    from.value = state.from;
    to.value = state.to;
    rangeError.hidden = true;
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
      // A range that ends before it starts is refused aloud, not ignored.
      const bad = !from.value || !to.value ? t('range_incomplete') : from.value >= to.value ? t('range_invalid') : '';
      rangeError.textContent = bad;
      rangeError.hidden = !bad;
      for (const i of [from, to]) i.setAttribute('aria-invalid', bad ? 'true' : 'false');
      if (!bad) set({ from: from.value, to: to.value });
    });
  }
  const play = $('#play');
  const slider = $('#play-slider');
  play.addEventListener('click', () => {
    if (!player.active) player.start(monthsOf(state.from, state.to)).catch(() => {});
    else if (player.paused) player.resume();
    else player.pause();
  });
  $('#play-prev').addEventListener('click', () => player.step(-1));
  $('#play-next').addEventListener('click', () => player.step(1));
  $('#play-stop').addEventListener('click', () => player.stop());
  slider.addEventListener('input', () => player.seek(Number(slider.value)));
  const showPlay = (s) => {
    play.textContent = !s.active ? t('play') : s.paused ? t('resume') : t('pause');
    play.setAttribute('aria-pressed', String(s.active && !s.paused));
    $('#play-controls').hidden = !s.active;
    const n = s.months.length;
    slider.max = String(Math.max(0, n - 1));
    slider.value = String(s.index);
    const idle = !s.active || !!s.loading;
    for (const b of [$('#play-prev'), $('#play-next'), slider]) b.disabled = idle;
    $('#play-prev').disabled ||= s.index <= 0;
    $('#play-next').disabled ||= s.index >= n - 1;
    $('#play-progress').hidden = !s.loading;
    if (s.loading) {
      $('#play-bar').max = s.loading.total || 1;
      $('#play-bar').value = s.loading.done;
      $('#play-progress-text').textContent = t('play_loading', { done: s.loading.done, total: s.loading.total });
    }
    const month = s.active && s.ready && n ? s.months[s.index] : '';
    $('#playing').textContent = month ? t('playing_month', { month: monthName(month), n: s.index + 1, total: n }) : '';
    $('#playing').dataset.month = month;
  };
  return { sync, showPlay };
}

/** "2026-03" as a reader says it: 2026年3月 / Mar 2026. */
export function monthName(ym) {
  const [y, m] = ym.split('-').map(Number);
  return getLang() === 'en'
    ? new Date(y, m - 1, 1).toLocaleDateString('en-US', { year: 'numeric', month: 'short' })
    : `${y}年${m}月`;
}
