'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = 'aperture.token';
  const NIGHT_KEY = 'aperture.night-mode';
  const HOUR = 3600 * 1000;

  // State shown by the page; `debug` is read by the browser test.
  const debug = { ready: false, streamOpen: false, events: 0, progressEvents: 0, frameEvents: 0,
                  previewLoads: 0, lastSubmitted: null, dropped: 0, roisDrawn: 0 };
  window.apertureDashboard = debug;
  const state = {
    camera: null, info: null, exposure: null, temps: [], rois: { signal: null, background: null },
    frame: null, previewBusy: false, previewAgain: false, previewURL: null, shownFrame: null,
    night: null, pending: null, source: null, timers: {},
  };

  // ---------------------------------------------------------------- helpers
  function storageGet(key) { try { return window.localStorage.getItem(key); } catch (e) { return null; } }
  function storageSet(key, value) {
    try { if (value === null) window.localStorage.removeItem(key); else window.localStorage.setItem(key, value); } catch (e) { /* private mode */ }
  }
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value; else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function text(id, value) { const node = $(id); if (node) node.textContent = value; }
  function num(value, digits) {
    if (value === undefined || value === null || value === '') return '–';
    const n = Number(value);
    if (!Number.isFinite(n)) return String(value);
    return digits === undefined ? String(n) : n.toFixed(digits);
  }
  function bytes(n) {
    if (!Number.isFinite(n)) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0; let v = n;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return (i === 0 ? String(v) : v.toFixed(1)) + ' ' + units[i];
  }
  function utc(value) {
    if (value === undefined || value === null) return '–';
    const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    return date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
  }
  function duration(seconds) {
    if (!Number.isFinite(seconds)) return '–';
    const s = Math.floor(seconds);
    const d = Math.floor(s / 86400); const h = Math.floor((s % 86400) / 3600); const m = Math.floor((s % 3600) / 60);
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    return m + 'm ' + (s % 60) + 's';
  }
  function limit(value) {
    const n = Number(value);
    if (value === null || !Number.isFinite(n)) return '?';
    return Number.isInteger(n) ? String(n) : n.toFixed(1);
  }
  function later(name, ms, fn) {
    if (state.timers[name]) return;
    state.timers[name] = setTimeout(() => { state.timers[name] = null; fn(); }, ms);
  }

  let messageTimer = null;
  function say(message, kind) {
    const box = $('message');
    box.textContent = message;
    box.className = 'banner' + (kind ? ' ' + kind : '');
    box.hidden = false;
    clearTimeout(messageTimer);
    messageTimer = setTimeout(() => { box.hidden = true; }, kind === 'error' ? 12000 : 5000);
  }

  // ---------------------------------------------------------------- API
  class APIError extends Error {
    constructor(status, code, message, field) { super(message); this.status = status; this.code = code; this.field = field; }
  }

  async function api(path, options) {
    const opts = options || {};
    const headers = {};
    const token = storageGet(TOKEN_KEY);
    if (token) headers['Authorization'] = 'Bearer ' + token;
    let body;
    if (opts.body !== undefined) { body = JSON.stringify(opts.body); headers['Content-Type'] = 'application/json'; }
    let response;
    try {
      response = await fetch(path, { method: opts.method || 'GET', headers, body, cache: 'no-store' });
    } catch (e) {
      throw new APIError(0, 'network', 'the gateway does not answer');
    }
    const raw = await response.text();
    let json = null;
    if (raw) { try { json = JSON.parse(raw); } catch (e) { json = null; } }
    if (!response.ok) {
      const detail = (json && json.error) || {};
      throw new APIError(response.status, detail.code || 'http_' + response.status,
                         detail.message || (response.status + ' ' + response.statusText), detail.field);
    }
    return json;
  }

  // A command: on 401 the token field shows and the command is retried once a token is saved.
  async function command(label, path, body, onDone) {
    const run = async () => {
      try {
        const reply = await api(path, { method: 'POST', body });
        if (onDone) onDone(reply);
        return reply;
      } catch (e) {
        if (e.status === 401) {
          state.pending = run;
          showAuth(e.message);
        } else {
          say(label + ': ' + e.message, 'error');
        }
        return null;
      }
    };
    return run();
  }

  // ---------------------------------------------------------------- token
  function showAuth(message) {
    $('auth').hidden = false;
    text('auth-message', message || 'Commands need the gateway\'s bearer token (gateway.token).');
    $('token-input').value = storageGet(TOKEN_KEY) || '';
    $('token-input').focus();
  }
  $('auth-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('token-input').value.trim();
    storageSet(TOKEN_KEY, token || null);
    $('auth').hidden = true;
    const pending = state.pending;
    state.pending = null;
    if (pending) pending();
    else say(token ? 'Token saved.' : 'Token removed.', 'ok');
  });
  $('token-forget').addEventListener('click', () => {
    storageSet(TOKEN_KEY, null); $('token-input').value = ''; state.pending = null; $('auth').hidden = true; say('Token removed.', 'ok');
  });
  $('token-close').addEventListener('click', () => { state.pending = null; $('auth').hidden = true; });
  $('token-button').addEventListener('click', () => showAuth('The token is kept in this browser (localStorage) and sent as "Authorization: Bearer".'));

  function applyNight(on) { document.documentElement.classList.toggle('night', on); storageSet(NIGHT_KEY, on ? '1' : null); }
  $('night-button').addEventListener('click', () => applyNight(!document.documentElement.classList.contains('night')));
  applyNight(storageGet(NIGHT_KEY) === '1');

  // ---------------------------------------------------------------- camera
  const busyStates = ['exposing', 'reading', 'saving', 'aborting'];
  function showState(cameraState, connected, reason) {
    const badge = $('camera-state');
    let label = cameraState || 'unknown';
    if (connected === false && cameraState !== 'error') label = 'disconnected';
    badge.textContent = label;
    badge.className = 'badge ' + (label === 'idle' ? 'good' : busyStates.includes(label) ? 'busy' : label === 'error' || label === 'disconnected' ? 'bad' : 'warn');
    text('camera-state-text', label + (reason ? ' — ' + reason : ''));
    $('abort-button').disabled = !busyStates.includes(label) || label === 'aborting';
  }

  function showCamera(report) {
    state.camera = report;
    if (report.info) state.info = report.info;
    showState(report.state, report.connected, report.reason);
    text('camera-driver', report.driver || '–');
    const info = report.info;
    text('camera-sensor', info ? (info.model ? info.model + ', ' : '') + info.width + ' × ' + info.height + ' px' : '–');
    showFilter(report.filter);
    if (report.temperature) showTemperature(report.temperature, true);
    if (report.exposure) {
      state.exposure = report.exposure;
      text('camera-exposure', report.exposure.id + ' (' + report.exposure.status + ')');
    } else {
      text('camera-exposure', 'none running');
    }
  }

  function showFilter(filter) {
    const select = $('exp-filter');
    if (!filter) { text('camera-filter', 'no filter wheel'); select.disabled = true; return; }
    text('camera-filter', filter.name + ' (slot ' + filter.slot + ')');
    select.disabled = false;
    const names = (filter.filters || []).filter((name) => name);
    const current = Array.from(select.options).slice(1).map((o) => o.value);
    if (names.join('\n') !== current.join('\n')) {
      const chosen = select.value;
      while (select.options.length > 1) select.remove(1);
      for (const name of names) select.append(el('option', { value: name }, name));
      if (names.includes(chosen)) select.value = chosen;
    }
  }

  async function loadCamera() {
    try { showCamera(await api('v1/camera')); return true; } catch (e) {
      showState(e.status === 503 ? 'down' : 'unknown', false, e.message);
      return false;
    }
  }

  // ---------------------------------------------------------------- temperature
  function showTemperature(t, fromStatus) {
    if (!t) return;
    text('temp-celsius', num(t.celsius, 1) + ' °C');
    text('temp-setpoint', num(t.setpoint, 0) + ' °C');
    const power = t.cooler_power === undefined || t.cooler_power === null ? '' : ', ' + num(t.cooler_power, 0) + '%';
    const status = t.state && t.state !== 'off' && t.state !== (t.cooler_on ? 'on' : 'off') ? ' · ' + t.state.replace(/_/g, ' ') : '';
    text('temp-cooler', (t.cooler_on ? 'on' : 'off') + status + power);
    const input = $('cool-setpoint');
    if (document.activeElement !== input && input.value === '') input.value = t.setpoint;
    if (!fromStatus || state.temps.length === 0) addTemperature(t);
  }
  function addTemperature(t) {
    const now = Date.now();
    state.temps.push({ t: now, c: Number(t.celsius), s: Number(t.setpoint) });
    while (state.temps.length && state.temps[0].t < now - HOUR) state.temps.shift();
    later('chart', 200, drawChart);
    later('save-temperatures', 10000, saveTemperatures);
  }
  // The chart's hour survives a reload of the page (kept per page address).
  const TEMPERATURES_KEY = 'aperture.temperatures:' + location.pathname;
  function saveTemperatures() { storageSet(TEMPERATURES_KEY, JSON.stringify(state.temps)); }
  function restoreTemperatures() {
    try {
      const kept = JSON.parse(storageGet(TEMPERATURES_KEY) || '[]');
      const since = Date.now() - HOUR;
      if (Array.isArray(kept)) state.temps = kept.filter((p) => p && Number.isFinite(p.t) && p.t >= since && Number.isFinite(p.c));
    } catch (e) { state.temps = []; }
  }
  window.addEventListener('pagehide', saveTemperatures);

  function drawChart() {
    debug.chartPoints = state.temps.length;
    const canvas = $('temp-chart');
    const ratio = window.devicePixelRatio || 1;
    const cssWidth = canvas.clientWidth || 300;
    const cssHeight = canvas.clientHeight || 180;
    if (canvas.width !== Math.round(cssWidth * ratio) || canvas.height !== Math.round(cssHeight * ratio)) {
      canvas.width = Math.round(cssWidth * ratio);
      canvas.height = Math.round(cssHeight * ratio);
    }
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, cssWidth, cssHeight);
    const styles = getComputedStyle(document.documentElement);
    const muted = styles.getPropertyValue('--muted').trim() || '#8a96a6';
    const line = styles.getPropertyValue('--line').trim() || '#2c3542';
    const accent = styles.getPropertyValue('--accent').trim() || '#5fa8ff';
    const warn = styles.getPropertyValue('--warn').trim() || '#e0b341';
    const left = 40, right = 8, top = 8, bottom = 20;
    const w = cssWidth - left - right, h = cssHeight - top - bottom;
    const now = Date.now();
    const t0 = now - HOUR;
    const points = state.temps.filter((p) => Number.isFinite(p.c));
    let lo = Infinity, hi = -Infinity;
    for (const p of points) {
      lo = Math.min(lo, p.c, Number.isFinite(p.s) ? p.s : p.c);
      hi = Math.max(hi, p.c, Number.isFinite(p.s) ? p.s : p.c);
    }
    if (!Number.isFinite(lo)) { lo = -20; hi = 20; }
    if (hi - lo < 2) { const mid = (hi + lo) / 2; lo = mid - 1; hi = mid + 1; }
    const pad = (hi - lo) * 0.1; lo -= pad; hi += pad;
    const x = (t) => left + (t - t0) / HOUR * w;
    const y = (c) => top + (hi - c) / (hi - lo) * h;

    g.font = '11px system-ui, sans-serif';
    g.lineWidth = 1;
    g.strokeStyle = line;
    g.fillStyle = muted;
    // Horizontal grid: about five steps of 1, 2, 5 x 10^n degrees.
    const raw = (hi - lo) / 5;
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) || raw;
    g.textAlign = 'right'; g.textBaseline = 'middle';
    for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
      g.beginPath(); g.moveTo(left, Math.round(y(v)) + 0.5); g.lineTo(left + w, Math.round(y(v)) + 0.5); g.stroke();
      g.fillText(Number(v.toFixed(6)) + '°', left - 4, y(v));
    }
    // Vertical grid every 10 minutes, labelled with the UTC time.
    g.textAlign = 'center'; g.textBaseline = 'top';
    const tenMinutes = 600 * 1000;
    for (let t = Math.ceil(t0 / tenMinutes) * tenMinutes; t <= now; t += tenMinutes) {
      g.beginPath(); g.moveTo(Math.round(x(t)) + 0.5, top); g.lineTo(Math.round(x(t)) + 0.5, top + h); g.stroke();
      g.fillText(new Date(t).toISOString().slice(11, 16), x(t), top + h + 4);
    }
    function series(key, color, dashed) {
      g.strokeStyle = color; g.lineWidth = 1.5; g.setLineDash(dashed ? [5, 4] : []);
      g.beginPath();
      let started = false;
      for (const p of points) {
        if (!Number.isFinite(p[key])) continue;
        if (!started) { g.moveTo(x(p.t), y(p[key])); started = true; } else g.lineTo(x(p.t), y(p[key]));
      }
      if (started) g.stroke();
      g.setLineDash([]);
    }
    series('s', warn, true);
    series('c', accent, false);
    // The newest reading, marked and labelled: with little history the line is short.
    const last = points[points.length - 1];
    if (last) {
      g.fillStyle = accent;
      g.beginPath(); g.arc(x(last.t), y(last.c), 3, 0, 2 * Math.PI); g.fill();
      g.textAlign = 'right'; g.textBaseline = 'bottom';
      g.fillText(num(last.c, 1) + ' °C', x(last.t) - 6, y(last.c) - 3);
      if (Number.isFinite(last.s)) {
        g.fillStyle = warn;
        g.beginPath(); g.arc(x(last.t), y(last.s), 3, 0, 2 * Math.PI); g.fill();
        g.textBaseline = 'top';
        g.fillText(num(last.s, 0) + ' °C', x(last.t) - 6, y(last.s) + 3);
      }
    }
    g.textAlign = 'left'; g.textBaseline = 'top';
    g.fillStyle = accent; g.fillText('sensor', left + 6, top + 2);
    g.fillStyle = warn; g.fillText('set-point', left + 56, top + 2);
    if (points.length === 0) { g.fillStyle = muted; g.textAlign = 'center'; g.fillText('waiting for telemetry…', left + w / 2, top + h / 2); }
  }
  window.addEventListener('resize', () => { later('chart', 100, drawChart); later('rois', 100, drawROIs); });
  setInterval(() => later('chart', 0, drawChart), 30000);

  $('cooling-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const setpoint = Number($('cool-setpoint').value);
    if (!Number.isInteger(setpoint)) { say('Set-point: give whole degrees Celsius.', 'error'); return; }
    command('Cooling', 'v1/camera/cooling', { setpoint, cooler: true }, (t) => { showTemperature(t, true); say('Cooling to ' + setpoint + ' °C.', 'ok'); });
  });
  $('cooler-off').addEventListener('click', () => {
    command('Cooler', 'v1/camera/cooling', { cooler: false }, (t) => { showTemperature(t, true); say('Cooler off.', 'ok'); });
  });

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
    on('camera.frame', (f) => {
      debug.frameEvents += 1;
      state.frame = f;
      requestPreview();
      if (!f.preview) later('files', 1500, loadFiles);
      later('rois', 3000, loadROIs);
    });
    on('processor.result', (r) => showResult(r));
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
  setInterval(loadHealth, 10000);
  setInterval(() => { if (!debug.streamOpen) loadCamera(); }, 5000);
})();
