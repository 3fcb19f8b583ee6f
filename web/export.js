// Export for analysts: downloads what is on screen (tier, window, filters)
// through /api/v1/export (CSV); the button hides when the endpoint is absent
// or refuses the caller's role.

import * as api from './api.js';
import { t } from './i18n.js';
import { state, windowParams } from './state.js';

export async function mountExport(el) {
  el.hidden = true;
  el.innerHTML = `<button type="button" data-format="csv">${t('export_csv')}</button>`;
  for (const b of el.querySelectorAll('button')) {
    b.addEventListener('click', async () => {
      const f = b.dataset.format;
      const name = `wangge_${state.parent || 'county'}_L${state.level}_${state.metric}_${state.from}_${state.to}.${f}`;
      try {
        await api.download(f, state.level, state.metric, windowParams(), state.parent, name);
      } catch (e) {
        alert(t('error', { message: e.message }));
      }
    });
  }
  el.hidden = !(await api.exportAvailable(state.level, state.metric, windowParams(), state.parent));
}
