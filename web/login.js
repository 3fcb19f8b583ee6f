// Login view: user name and password; resolves with the signed-in user.

import * as api from './api.js';
import { t, getLang, setLang } from './i18n.js';

export function showLogin(el) {
  el.hidden = false;
  el.innerHTML = `<form id="login-form" class="login-box">
      <h1>${t('app_title')}</h1>
      <label>${t('username')}<input name="username" autocomplete="username" required></label>
      <label>${t('password')}<input name="password" type="password" autocomplete="current-password" required></label>
      <button type="submit">${t('login')}</button>
      <p class="error" id="login-error" hidden></p>
      <button type="button" id="login-lang" class="link" lang="${getLang() === 'en' ? 'zh-CN' : 'en'}">${t('login_lang')}</button>
    </form>`;
  // The language can be chosen before signing in (it is kept for the map).
  el.querySelector('#login-lang').addEventListener('click', () => {
    setLang(getLang() === 'en' ? 'zh-CN' : 'en');
    location.reload();
  });
  return new Promise((resolve) => {
    const form = el.querySelector('form');
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const err = el.querySelector('#login-error');
      err.hidden = true;
      try {
        const user = await api.login(form.username.value.trim(), form.password.value);
        el.hidden = true;
        el.innerHTML = '';
        resolve(user);
      } catch (e) {
        err.textContent = e.status === 401 || e.status === 403 ? t('login_failed') : t('error', { message: e.message });
        err.hidden = false;
      }
    });
  });
}
