  // The dashboard's script, part 2 of 2: exposures, the preview and its analysis, files,
  // processes, the events stream, and start-up. See part 1 for how the parts are served.

  // ---------------------------------------------------------------- exposures
  $('exp-type').addEventListener('change', () => {
    const bias = $('exp-type').value === 'bias';
    $('exp-time').disabled = bias;
    if (bias) $('exp-time').value = '0';
  });

  $('exposure-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const type = $('exp-type').value;
    const time = type === 'bias' ? 0 : Number($('exp-time').value);
    const count = Number($('exp-count').value || '1');
    if (!Number.isFinite(time) || time < 0 || $('exp-time').value === '') { say('Time: give the exposure time in seconds (0 or more).', 'error'); $('exp-time').focus(); return; }
    if (!Number.isInteger(count) || count < 1) { say('Count: give a whole number of frames, 1 or more.', 'error'); $('exp-count').focus(); return; }
    const body = { type, time };
    if (count !== 1) body.count = count;
    if ($('exp-filter').value) body.filter = $('exp-filter').value;
    const object = $('exp-object').value.trim();
    const comment = $('exp-comment').value.trim();
    if (object) body.object = object;
    if (comment) body.comment = comment;
    $('expose-button').disabled = true;
    command('Exposure', 'v1/exposures', body, (record) => {
      if (record && record.id) {
        debug.lastSubmitted = record.id;
        state.exposure = record;
        showProgress(record, 0, 0);
        showState('exposing', true);
        text('camera-exposure', record.id + ' (' + record.status + ')');
      }
    }).finally(() => { $('expose-button').disabled = false; });
  });

  $('abort-button').addEventListener('click', () => {
    $('abort-button').disabled = true;
    command('Abort', 'v1/exposures/abort', {}, (reply) => {
      say(reply && reply.message ? reply.message : 'Aborted.', reply && reply.aborted ? 'ok' : '');
    });
  });

  // Overall progress of the request: finished frames plus the part of the current one.
  function showProgress(record, frame, percent, elapsed, exposureTime) {
    const count = record.count || 0;
    let overall = percent;
    if (count > 0) overall = Math.min(100, ((Math.max(frame, 1) - 1) + percent / 100) / count * 100);
    if (frame === 0) overall = 0;
    $('progress').value = overall;
    const request = record.request || {};
    const what = (request.type || 'exposure') + ' ' + num(request.time) + ' s';
    const frames = count ? 'frame ' + Math.max(frame, 1) + ' of ' + count : 'frame ' + Math.max(frame, 1);
    const timing = Number.isFinite(elapsed) ? ' · ' + num(elapsed, 1) + ' / ' + num(exposureTime, 1) + ' s' : '';
    text('progress-text', record.id + ': ' + what + ' · ' + frames + ' · ' + num(percent, 0) + '%' + timing);
  }

  function showRecord(record) {
    if (!record || !record.id) return;
    state.exposure = record;
    text('camera-exposure', record.id + ' (' + record.status + ')');
    if (record.status === 'running') return;
    const files = (record.files || []).length;
    if (record.status === 'completed') $('progress').value = 100;
    let line = record.id + ': ' + record.status + ' · ' + record.frames_done + (record.count ? ' of ' + record.count : '') + ' frame(s)';
    if (files) line += ' · ' + files + ' file(s) saved';
    if (record.error) line += ' · ' + record.error.message;
    text('progress-text', line);
    if (record.status === 'failed') say('Exposure ' + record.id + ' failed: ' + (record.error ? record.error.message : 'no reason given'), 'error');
    later('files', 500, loadFiles);
  }

  async function loadExposures() {
    try {
      const reply = await api('v1/exposures');
      const list = (reply && reply.exposures) || [];
      const last = list[list.length - 1];
      if (last) {
        if (last.status === 'running') showProgress(last, last.frames_done + 1, 0); else showRecord(last);
      }
      // The newest request that produced a frame: the ring holds its last one.
      const withFrames = list.filter((r) => r.frames_done > 0);
      const newest = withFrames[withFrames.length - 1];
      if (newest && !state.frame) {
        state.frame = { exposure_id: newest.id, frame: newest.frames_done, sequence: 'start' };
        requestPreview();
      }
      return true;
    } catch (e) { return false; /* shown by the camera panel */ }
  }

  // ---------------------------------------------------------------- preview
  function previewWidth() {
    const box = $('preview-box');
    const wanted = Math.round((box.clientWidth || 512) * (window.devicePixelRatio || 1));
    const limit = state.info && state.info.width ? state.info.width : 4096;
    return Math.max(64, Math.min(limit, 2048, Math.ceil(wanted / 64) * 64));
  }

  async function requestPreview() {
    if (state.previewBusy) { state.previewAgain = true; return; }
    const frame = state.frame;
    if (!frame) return;
    state.previewBusy = true;
    state.previewAgain = false;
    const url = 'v1/frames/latest.png?width=' + previewWidth() + '&stretch=' + encodeURIComponent($('stretch').value)
      + '&frame=' + encodeURIComponent(frame.exposure_id + '-' + frame.frame + '-' + frame.sequence) + '&t=' + Date.now();
    try {
      const response = await fetch(url, { cache: 'no-store' });
      if (!response.ok) {
        let message = response.status + ' ' + response.statusText;
        try { const j = await response.json(); if (j && j.error) message = j.error.message; } catch (e) { /* not JSON */ }
        text('preview-caption', 'preview unavailable: ' + message);
      } else {
        const shown = {
          exposure: response.headers.get('X-Exposure-Id') || frame.exposure_id,
          frame: response.headers.get('X-Frame-Number') || frame.frame,
          width: Number(response.headers.get('X-Frame-Width')) || frame.width,
          height: Number(response.headers.get('X-Frame-Height')) || frame.height,
          low: response.headers.get('X-Stretch-Low'), high: response.headers.get('X-Stretch-High'),
          stretch: response.headers.get('X-Stretch'),
        };
        const blob = await response.blob();
        const objectURL = URL.createObjectURL(blob);
        await new Promise((resolve) => {
          const img = $('preview');
          img.onload = () => {
            if (state.previewURL) URL.revokeObjectURL(state.previewURL);
            state.previewURL = objectURL;
            img.hidden = false;
            $('preview-empty').hidden = true;
            img.dataset.exposure = shown.exposure;
            img.dataset.frame = String(shown.frame);
            state.shownFrame = shown;
            debug.previewLoads += 1;
            text('preview-caption', shown.exposure + ' #' + shown.frame + ' · ' + (shown.width || '?') + '×' + (shown.height || '?')
              + ' · ' + shown.stretch + ' ' + limit(shown.low) + '…' + limit(shown.high));
            drawROIs();
            resolve();
          };
          img.onerror = () => { URL.revokeObjectURL(objectURL); text('preview-caption', 'the preview could not be decoded'); resolve(); };
          img.src = objectURL;
        });
      }
    } catch (e) {
      text('preview-caption', 'preview unavailable: the gateway does not answer');
    } finally {
      state.previewBusy = false;
      if (state.previewAgain) setTimeout(requestPreview, 250);
    }
  }
  $('stretch').addEventListener('change', requestPreview);
  $('show-rois').addEventListener('change', drawROIs);

  function drawROIs() {
    const img = $('preview');
    const canvas = $('roi-overlay');
    const shown = state.shownFrame;
    const ratio = window.devicePixelRatio || 1;
    const w = img.clientWidth, h = img.clientHeight;
    canvas.style.width = w + 'px';
    canvas.style.height = h + 'px';
    canvas.style.left = img.offsetLeft + 'px';
    canvas.style.top = img.offsetTop + 'px';
    canvas.width = Math.max(1, Math.round(w * ratio));
    canvas.height = Math.max(1, Math.round(h * ratio));
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    debug.roisDrawn = 0;
    if (img.hidden || !shown || !$('show-rois').checked) return;
    const frameWidth = shown.width || (state.info && state.info.width);
    const frameHeight = shown.height || (state.info && state.info.height);
    if (!frameWidth || !frameHeight) return;
    const sx = w / frameWidth, sy = h / frameHeight;
    const styles = getComputedStyle(document.documentElement);
    const boxes = [
      ['signal', state.rois.signal, styles.getPropertyValue('--signal').trim() || '#ffd24a'],
      ['background', state.rois.background, styles.getPropertyValue('--background').trim() || '#45d4e6'],
    ];
    g.font = '12px system-ui, sans-serif';
    g.textBaseline = 'bottom';
    for (const [name, roi, color] of boxes) {
      if (!Array.isArray(roi) || roi.length !== 4) continue;
      const [ox, szx, oy, szy] = roi;
      g.strokeStyle = color; g.fillStyle = color; g.lineWidth = 1.5;
      g.strokeRect(ox * sx, oy * sy, szx * sx, szy * sy);
      g.fillText(name, ox * sx + 3, Math.max(12, oy * sy - 2));
      debug.roisDrawn += 1;
    }
  }

  async function loadROIs() {
    try {
      const configuration = await api('v1/processor/configuration');
      state.rois.signal = configuration ? configuration.roi_signal || null : null;
      state.rois.background = configuration ? configuration.roi_background || null : null;
      drawROIs();
      return true;
    } catch (e) { return false; /* the processor is down: keep the last ROIs */ }
  }

  function showResult(result) {
    if (!result || !result.analysis) return;
    const a = result.analysis;
    const rows = [];
    const row = (label, value) => rows.push(el('tr', {}, el('th', {}, label), el('td', { class: 'num' }, value)));
    row('Frame', result.exposure_id + ' #' + result.frame);
    row('Size', a.width + ' × ' + a.height);
    if (a.min_max) { row('Minimum', num(a.min_max.min)); row('Maximum', num(a.min_max.max)); }
    if (a.mean !== undefined && a.mean !== null) row('Mean', num(a.mean, 2));
    if (a.sigma !== undefined && a.sigma !== null) row('Sigma', num(a.sigma, 2));
    if (a.total !== undefined && a.total !== null) row('Total', num(a.total));
    if (a.net !== undefined && a.net !== null) row('Net', num(a.net, 0));
    if (a.centroid && a.centroid.x !== undefined && a.centroid.x !== null) {
      row('Centroid', num(a.centroid.x, 1) + ', ' + num(a.centroid.y, 1) + ' (σ ' + num(a.centroid.sigma_x, 1) + ', ' + num(a.centroid.sigma_y, 1) + ')');
    }
    if (a.saturated_pixels !== undefined && a.saturated_pixels !== null) row('Saturated', num(a.saturated_pixels));
    if (a.focus) {
      row('Stars', num(a.focus.star_count));
      row('FWHM / HFD', num(a.focus.median_fwhm, 2) + ' / ' + num(a.focus.median_hfd, 2) + ' px');
    }
    if (result.focus !== undefined && result.focus !== null) row('Focus position', num(result.focus));
    if (a.roi_errors && a.roi_errors.length) row('ROI', a.roi_errors.join('; '));
    if (Number.isFinite(result.processed_time) && Number.isFinite(result.readout_time)) {
      row('Latency', num((result.processed_time - result.readout_time) * 1000, 0) + ' ms');
    }
    $('stats').tBodies[0].replaceChildren(...rows);
  }

  async function loadResults() {
    try {
      const reply = await api('v1/processor/results');
      const list = (reply && (reply.results || (Array.isArray(reply) ? reply : null))) || (reply && reply.analysis ? [reply] : []);
      if (list.length) showResult(list[list.length - 1]);
      return true;
    } catch (e) { return false; /* the processor is down */ }
  }

  // ---------------------------------------------------------------- files
  async function loadFiles() {
    try {
      const reply = await api('v1/files');
      const nights = ((reply && reply.nights) || []).slice().sort((a, b) => (a.night < b.night ? 1 : -1));
      const select = $('night-select');
      const chosen = state.night && nights.some((n) => n.night === state.night) ? state.night : (nights[0] && nights[0].night);
      const wanted = nights.map((n) => n.night).join(',');
      if (Array.from(select.options).map((o) => o.value).join(',') !== wanted) {
        select.replaceChildren(...nights.map((n) => el('option', { value: n.night }, n.night)));
      }
      if (!chosen) {
        text('night-summary', 'No files yet.');
        $('files-table').tBodies[0].replaceChildren();
        return;
      }
      select.value = chosen;
      state.night = chosen;
      const summary = nights.find((n) => n.night === chosen);
      text('night-summary', summary ? summary.files + ' file(s), ' + bytes(summary.bytes) : '');
      const listing = await api('v1/files/' + encodeURIComponent(chosen));
      const files = ((listing && listing.files) || []).slice().sort((a, b) => (a.name < b.name ? 1 : -1));
      $('files-table').tBodies[0].replaceChildren(...files.map((f) => el('tr', {},
        el('td', {}, el('a', { href: 'v1/' + (f.url || ('files/' + chosen + '/' + f.name)), download: f.name }, f.name)),
        el('td', { class: 'num' }, bytes(f.size)),
        el('td', {}, utc(f.modified)))));
      return true;
    } catch (e) {
      text('night-summary', 'files unavailable: ' + e.message);
      return false;
    }
  }
  $('night-select').addEventListener('change', () => { state.night = $('night-select').value; loadFiles(); });

  // ---------------------------------------------------------------- processes
  async function loadHealth() {
    try {
      const status = await api('v1/supervisor');
      const children = (status && status.children) || [];
      $('children-table').tBodies[0].replaceChildren(...children.map((c) => {
        const good = c.state === 'running' && c.responding;
        return el('tr', {},
          el('td', {}, c.name),
          el('td', { class: 'num' }, c.pid === undefined || c.pid === null ? '–' : c.pid),
          el('td', { class: good ? 'ok-text' : c.state === 'running' ? 'warn-text' : 'bad-text' }, c.state),
          el('td', { class: c.responding ? 'ok-text' : 'bad-text' }, c.responding ? 'answers' : 'no answer'),
          el('td', { class: 'num' }, num(c.restarts)),
          el('td', {}, c.last_exit || '–'));
      }));
      text('supervisor-summary', 'supervisor pid ' + status.pid + ' · up ' + duration(status.uptime)
        + (status.ready ? ' · ready' : ' · starting') + (status.stopping ? ' · stopping' : ''));
      return true;
    } catch (e) {
      text('supervisor-summary', 'supervisor: ' + e.message);
      return false;
    }
  }

  // ---------------------------------------------------------------- weather
  // The panel shows once the gateway has a weather source (weather.source); without one
  // /v1/weather answers source 'none' and the panel stays hidden.
  async function loadWeather() {
    const show = (id, value, unit, digits) => text(id, value === undefined || value === null
      ? '–' : Number(value).toFixed(digits) + unit);
    try {
      const weather = await api('v1/weather');
      if (weather.source === 'none') { $('weather-panel').hidden = true; return true; }
      const v = weather.values || {};
      show('weather-temp', v.temperature_c, ' °C', 1);
      show('weather-humidity', v.humidity, ' %', 0);
      show('weather-wind', v.wind_speed_ms, ' m/s', 1);
      show('weather-dew', v.dew_point_c, ' °C', 1);
      show('weather-pressure', v.pressure_hpa, ' hPa', 0);
      show('weather-clouds', v.cloud_cover, ' %', 0);
      text('weather-caption', 'from ' + weather.source + ', read ' + duration(weather.age_seconds) + ' ago');
      $('weather-panel').hidden = false;
    } catch (e) {
      text('weather-caption', 'weather: ' + e.message);
      $('weather-panel').hidden = false;
    }
    return true;
  }

  // ---------------------------------------------------------------- events
  function setStream(label, kind) {
    const badge = $('stream-state');
    badge.textContent = label;
    badge.className = 'badge ' + (kind || '');
  }

  function connect() {
    if (state.source) state.source.close();
    const source = new EventSource('v1/events');
    state.source = source;
    setStream('connecting', 'warn');
    source.onopen = () => {
      debug.streamOpen = true;
      setStream('live', 'good');
      if (debug.ready) refresh();  // a reconnection: catch up on what was missed
    };
    source.onerror = () => {
      debug.streamOpen = false;
      if (source.readyState === EventSource.CLOSED) {
        setStream('offline', 'bad');
        setTimeout(() => { if (state.source === source) connect(); }, 5000);
      } else {
        setStream('reconnecting', 'warn');
      }
    };
    const on = (topic, handler) => source.addEventListener(topic, (event) => {
      let envelope;
      try { envelope = JSON.parse(event.data); } catch (e) { return; }
      debug.events += 1;
      const payload = envelope && typeof envelope === 'object' && 'data' in envelope ? envelope.data : envelope;
      handler(payload || {}, envelope);
    });
    on('camera.state', (s) => {
      showState(s.state, true, s.reason);
      if (s.state === 'idle') $('abort-button').disabled = true;
    });
    on('camera.telemetry', (t) => {
      showState(t.state, t.connected);
      if (t.temperature) showTemperature(t.temperature, false);
    });
    on('camera.progress', (p) => {
      debug.progressEvents += 1;
      let record = state.exposure;
      if (!record || record.id !== p.exposure_id) {
        record = { id: p.exposure_id, count: p.count, request: { time: p.exposure_time }, status: 'running', frames_done: p.frame - 1 };
        state.exposure = record;
      }
      showProgress(record, p.frame, p.percent, p.elapsed, p.exposure_time);
    });
    on('camera.exposure', (record) => showRecord(record));
    on('camera.filter', (filter) => showFilter(filter));
    on('camera.frame', (f) => {
      debug.frameEvents += 1;
      state.frame = f;
      requestPreview();
      if (!f.preview) { later('files', 1500, loadFiles); later('history', 2000, () => loadHistory(false)); }
      later('rois', 3000, loadROIs);
    });
    on('processor.result', (r) => { showResult(r); later('history', 2000, () => loadHistory(false)); });
    on('catalog.plan', () => later('plans', 200, loadPlans));
    on('catalog.export', (s) => showExport(s));
    for (const topic of ['child.started', 'child.exited', 'child.restarting', 'child.fatal', 'child.unresponsive']) {
      on(topic, (c) => {
        if (topic !== 'child.started') say('Process ' + c.child + ': ' + c.event + (c.reason ? ' (' + c.reason + ')' : ''), topic === 'child.fatal' ? 'error' : '');
        later('health', 300, loadHealth);
        if (c.child === 'camera') later('camera', 1000, loadCamera);
      });
    }
    on('dropped', (d) => { debug.dropped += d.dropped || 0; setStream('live (' + debug.dropped + ' dropped)', 'warn'); });
  }

  // Loads everything; what failed (a child restarting answers 503) is tried again, less often
  // each time, until it answers.
  let retryDelay = 2000;
  async function refresh(which) {
    const loaders = which || [loadCamera, loadExposures, loadROIs, loadResults, loadFiles, loadHealth];
    const results = await Promise.all(loaders.map((load) => load()));
    const failed = loaders.filter((load, i) => !results[i]);
    if (failed.length === 0) { retryDelay = 2000; return; }
    const delay = retryDelay;
    retryDelay = Math.min(30000, retryDelay * 2);
    later('retry', delay, () => refresh(failed));
  }

  // The gateway keeps the last hour of readings: the chart starts with it.
  async function loadTemperatureHistory() {
    try {
      const reply = await api('v1/camera/temperature/history');
      const since = Date.now() - HOUR;
      const fromServer = (reply.samples || []).map((p) => ({ t: p.time * 1000, c: Number(p.celsius), s: Number(p.setpoint) }))
        .filter((p) => p.t >= since && Number.isFinite(p.c));
      if (fromServer.length > 0) {
        const first = fromServer[0].t;
        state.temps = state.temps.filter((p) => p.t < first).concat(fromServer, state.temps.filter((p) => p.t > fromServer[fromServer.length - 1].t));
        later('chart', 0, drawChart);
      }
    } catch (e) { /* the chart fills from the events instead */ }
  }

  // ---------------------------------------------------------------- start
  restoreTemperatures();
  drawChart();
  loadTemperatureHistory();
  refresh().then(() => { debug.ready = true; });
  connect();
  loadWeather();
  setInterval(loadWeather, 60000);
  setInterval(loadHealth, 10000);
  setInterval(() => { if (!debug.streamOpen) loadCamera(); }, 5000);
