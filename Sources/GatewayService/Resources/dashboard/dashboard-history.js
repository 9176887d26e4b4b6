  // The dashboard's script, the history panel (after parts 1 and 2, whose helpers it uses): the
  // frame catalog (`v1/frames`) of one night: a picker of the nights it holds, the frames with
  // filters, and a chart of the median FWHM (dots) and the sky level (rings, right axis) against
  // time, one colour per filter. Each saved frame reloads it (part 2's camera.frame handler).
  debug.historyLoads = 0;
  const HISTORY_COLOURS = ['#5fa8ff', '#4cc38a', '#e0b341', '#ef5f5f', '#c38aff', '#45d4e6', '#ff9f5f', '#d8dee6'];
  const history = { night: null, rows: [], next: null, query: '' };

  function historyQuery() {
    const parts = [];
    const add = (name, value) => { if (value) parts.push(name + '=' + encodeURIComponent(value)); };
    add('night', history.night);
    add('imagetyp', $('history-type').value);
    add('filter', $('history-filter').value.trim());
    add('object', $('history-object').value.trim());
    add('fwhm_max', $('history-fwhm').value.trim());
    return parts.join('&');
  }

  async function loadNights() {
    const summary = await api('v1/frames/summary');
    const select = $('history-night');
    const nights = (summary && summary.nights) || [];
    const chosen = history.night && nights.some((n) => n.night === history.night) ? history.night : (nights[0] || {}).night || null;
    select.replaceChildren(...nights.map((n) => el('option', { value: n.night },
      n.night + ' · ' + n.frames + ' frame(s), ' + num(n.exposure / 60, 1) + ' min')));
    if (chosen) select.value = chosen;
    history.night = chosen;
    return summary;
  }

  async function loadHistory(more) {
    try {
      if (!more) {
        await loadNights();
        history.query = historyQuery();
        history.rows = [];
        history.next = null;
      }
      if (!history.night) { showHistory(); return true; }
      const page = await api('v1/frames?limit=500&' + history.query + (more && history.next ? '&cursor=' + encodeURIComponent(history.next) : ''));
      history.rows = history.rows.concat(page.frames || []);
      // A short page is the last one (its `next` would only find rows added later).
      history.next = (page.frames || []).length === 500 ? page.next || null : null;
      showHistory();
    } catch (e) {
      if (e.status === 400) say('History: ' + e.message, 'error');
      return false;
    }
    return true;
  }

  function showHistory() {
    const rows = history.rows;
    const measured = rows.filter((r) => Number.isFinite(r.fwhm)).length;
    text('history-summary', history.night
      ? rows.length + (history.next ? '+' : '') + ' frame(s) on the night of ' + history.night + ', ' + measured + ' with a FWHM'
      : 'no frames catalogued yet');
    $('history-table').tBodies[0].replaceChildren(...rows.slice().reverse().map((r) => el('tr', { 'data-id': String(r.id) },
      el('td', {}, (r.date_obs || '').replace('T', ' ').slice(0, 19)), el('td', {}, r.imagetyp || '–'),
      el('td', {}, r.filter || '–'), el('td', {}, r.object || '–'), el('td', { class: 'num' }, num(r.exptime, 1)),
      el('td', { class: 'num' }, num(r.fwhm, 2)), el('td', { class: 'num' }, num(r.median, 0)),
      el('td', { class: 'num' }, r.nstars === undefined || r.nstars === null ? '–' : String(r.nstars)),
      el('td', {}, r.missing ? r.path + ' (missing)' : el('a', { href: 'v1/frames/' + r.id + '/file' }, r.path.split('/').pop())))));
    $('history-more').hidden = !history.next;
    drawHistory(rows);
    debug.historyLoads += 1;
    debug.historyRows = rows.length;
  }

  function svg(tag, attributes, content) {
    const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, String(value));
    if (content !== undefined) node.textContent = content;
    return node;
  }

  function drawHistory(rows) {
    const chart = $('history-chart');
    const width = chart.clientWidth || 600, height = chart.clientHeight || 220;
    chart.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    const left = 44, right = 52, top = 10, bottom = 22;
    const w = width - left - right, h = height - top - bottom;
    const points = rows.map((r) => ({ t: Date.parse((r.date_obs || '') + 'Z'), fwhm: r.fwhm, sky: r.median, filter: r.filter || 'none' }))
      .filter((p) => Number.isFinite(p.t) && (Number.isFinite(p.fwhm) || Number.isFinite(p.sky)));
    const nodes = [];
    const filters = [...new Set(points.map((p) => p.filter))].sort();
    const colour = (f) => HISTORY_COLOURS[filters.indexOf(f) % HISTORY_COLOURS.length];
    if (!points.length) {
      nodes.push(svg('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle' }, 'no FWHM or sky level for these frames'));
    } else {
      const range = (values) => {
        let lo = Math.min(...values), hi = Math.max(...values);
        if (!Number.isFinite(lo)) return null;
        if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
        const pad = (hi - lo) * 0.08;
        return [lo - pad, hi + pad];
      };
      let t0 = Math.min(...points.map((p) => p.t)), t1 = Math.max(...points.map((p) => p.t));
      if (t1 - t0 < 60000) { t0 -= 30000; t1 += 30000; }
      const fw = range(points.filter((p) => Number.isFinite(p.fwhm)).map((p) => p.fwhm));
      const sk = range(points.filter((p) => Number.isFinite(p.sky)).map((p) => p.sky));
      const x = (t) => left + (t - t0) / (t1 - t0) * w;
      const yf = (v) => top + (fw[1] - v) / (fw[1] - fw[0]) * h;
      const ys = (v) => top + (sk[1] - v) / (sk[1] - sk[0]) * h;
      for (let i = 0; i <= 4; i++) {
        const y = top + i / 4 * h;
        nodes.push(svg('line', { class: 'grid', x1: left, x2: left + w, y1: y, y2: y }));
        if (fw) nodes.push(svg('text', { x: left - 4, y: y + 4, 'text-anchor': 'end' }, num(fw[1] - i / 4 * (fw[1] - fw[0]), 1)));
        if (sk) nodes.push(svg('text', { x: left + w + 4, y: y + 4 }, num(sk[1] - i / 4 * (sk[1] - sk[0]), 0)));
      }
      for (let i = 0; i <= 4; i++) {
        const t = t0 + i / 4 * (t1 - t0);
        nodes.push(svg('text', { x: x(t), y: height - 6, 'text-anchor': 'middle' }, new Date(t).toISOString().slice(11, 16)));
      }
      nodes.push(svg('text', { x: 4, y: 12 }, 'FWHM px'), svg('text', { x: width - 4, y: 12, 'text-anchor': 'end' }, 'sky ADU'));
      for (const p of points) {
        if (sk && Number.isFinite(p.sky)) {
          nodes.push(svg('circle', { class: 'sky', cx: x(p.t), cy: ys(p.sky), r: 3.5, fill: 'none', stroke: colour(p.filter), 'stroke-width': 1 }));
        }
        if (fw && Number.isFinite(p.fwhm)) {
          nodes.push(svg('circle', { class: 'fwhm', cx: x(p.t), cy: yf(p.fwhm), r: 3, fill: colour(p.filter) }));
        }
      }
    }
    chart.replaceChildren(...nodes);
    // Swatches as SVG (fill is an attribute: the page's Content-Security-Policy allows no inline style).
    $('history-legend').replaceChildren(...filters.map((f) => {
      const swatch = svg('svg', { class: 'swatch', viewBox: '0 0 10 10' });
      swatch.append(svg('circle', { cx: 5, cy: 5, r: 5, fill: colour(f) }));
      return el('span', {}, swatch, f === 'none' ? 'no filter' : f);
    }));
    debug.historyPoints = points.length;
  }

  $('history-form').addEventListener('submit', (event) => { event.preventDefault(); loadHistory(false); });
  $('history-night').addEventListener('change', () => { history.night = $('history-night').value; loadHistory(false); });
  $('history-more').addEventListener('click', () => loadHistory(true));

  loadHistory(false);
