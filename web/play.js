// Month-by-month playback over the window: every month's values are loaded
// first (with progress, since each month is a request), on one colour scale
// pooled over all months so that a colour means the same in every month;
// then the months play, can be paused, stepped and scrubbed. A change of
// metric, filter or tier while playing loads the months again and keeps the
// month and the pause. Knows neither the API nor the map: app.js hands it
// `load` and `show`.

const STEP_MS = 1200;

export class Player {
  /**
   * load(months, onProgress(done, total)) → {frames: [{month, ...}], ...scale}
   * (resolves once every month is in; onProgress returns false once the
   * load is no longer wanted, and the loader may then stop and resolve null); show(data, i) paints month i;
   * end() restores the map's window colours; onChange(status) redraws the
   * controls with {active, loading: {done, total} | null, paused, index, months}.
   */
  constructor({ load, show, end, onChange }) {
    Object.assign(this, { load, show, end, onChange });
    this.active = false;
    this.paused = false;
    this.index = 0;
    this.data = null;
    this.loading = null;
    this.months = [];
    this.timer = null;
    this.gen = 0;
  }

  status() {
    return {
      active: this.active,
      loading: this.loading,
      ready: !!this.data, // a month is on screen (the first load is over)
      paused: this.paused,
      index: this.index,
      months: this.months.map((m) => m[0].slice(0, 7)),
    };
  }

  changed() {
    this.onChange(this.status());
  }

  /** Starts playing `months` ([from, to) pairs) from the first. */
  async start(months) {
    this.stop({ restore: false });
    this.active = true;
    this.index = 0;
    this.paused = false;
    await this.reload(months);
  }

  /**
   * Loads the months again (new metric, filter, tier or window), keeping the
   * month shown and the pause; an older load finishing later is dropped.
   */
  async reload(months = this.months) {
    const gen = ++this.gen;
    this.months = months;
    this.clearTimer();
    this.loading = { done: 0, total: months.length };
    this.changed();
    let data;
    try {
      // The progress callback answers whether the load is still wanted:
      // a superseded one stops asking for months.
      data = await this.load(months, (done, total) => {
        if (gen !== this.gen) return false;
        this.loading = { done, total };
        this.changed();
        return true;
      });
    } catch (e) {
      if (gen === this.gen) this.stop();
      throw e;
    }
    if (gen !== this.gen || !this.active) return;
    this.data = data;
    this.loading = null;
    this.index = Math.min(this.index, Math.max(0, data.frames.length - 1));
    this.paint();
    if (!this.paused) this.runTimer();
  }

  paint() {
    if (!this.data?.frames.length) {
      this.changed();
      return;
    }
    this.show(this.data, this.index);
    this.changed();
  }

  runTimer() {
    this.clearTimer();
    this.timer = setInterval(() => {
      if (this.index >= this.data.frames.length - 1) {
        // The last month stays on screen, paused, to be read or scrubbed.
        this.pause();
        return;
      }
      this.index++;
      this.paint();
    }, STEP_MS);
  }

  clearTimer() {
    clearInterval(this.timer);
    this.timer = null;
  }

  pause() {
    this.paused = true;
    this.clearTimer();
    this.changed();
  }

  resume() {
    if (!this.active) return;
    this.paused = false;
    if (this.data && this.index >= this.data.frames.length - 1) {
      this.index = 0;
      this.paint();
    }
    if (!this.loading) this.runTimer();
    this.changed();
  }

  /** Moves by `d` months and pauses: a step is for reading one month. */
  step(d) {
    this.seek(this.index + d);
  }

  seek(i) {
    if (!this.active || !this.data) return;
    this.paused = true;
    this.clearTimer();
    this.index = Math.max(0, Math.min(this.data.frames.length - 1, i));
    this.paint();
  }

  /** Leaves playback; `restore` repaints the window's own colours. */
  stop({ restore = true } = {}) {
    const was = this.active;
    this.gen++;
    this.clearTimer();
    Object.assign(this, { active: false, paused: false, loading: null, data: null });
    this.changed();
    if (was && restore) this.end();
  }
}
