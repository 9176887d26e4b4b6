'use strict';
// The facility dashboard: every camera (state, last frame, export lag; refreshed every 5 s),
// the frames table with site, camera and night filters, and the open problems.
(function () {
  const $ = (id) => document.getElementById(id);
  let next = null;

  function cell(row, text) {
    const td = document.createElement('td');
    td.textContent = text === null || text === undefined ? '—' : String(text);
    row.appendChild(td);
    return td;
  }

  function text(value) {
    if (value === null || value === undefined) return null;
    if (typeof value === 'object') return JSON.stringify(value);
    return value;
  }

  function age(iso) {
    if (!iso) return null;
    const seconds = (Date.now() - Date.parse(iso)) / 1000;
    if (!isFinite(seconds)) return iso;
    if (seconds < 90) return Math.max(0, Math.round(seconds)) + ' s ago';
    if (seconds < 5400) return Math.round(seconds / 60) + ' min ago';
    return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  function setOptions(select, values) {
    const chosen = select.value;
    const known = new Set(Array.from(select.options).map((o) => o.value));
    for (const value of values) {
      if (!known.has(value)) {
        const option = document.createElement('option');
        option.value = value;
        option.textContent = value;
        select.appendChild(option);
      }
    }
    select.value = chosen;
  }

  async function get(url) {
    const response = await fetch(url, { headers: { Accept: 'application/json' } });
    const body = await response.json();
    if (!response.ok) {
      const error = body && body.error ? body.error : { message: response.statusText };
      throw new Error((error.field ? error.field + ': ' : '') + error.message);
    }
    return body;
  }

  async function refreshCameras() {
    try {
      const health = await get('/healthz').catch(() => ({ status: 'unreachable' }));
      $('health').textContent = 'database ' + (health.database ? 'up' : 'down') + ', NATS ' + (health.nats ? 'up' : 'down');
      $('health').className = 'pill ' + (health.database && health.nats ? 'ok' : 'bad');
      const body = await get('/v1/cameras');
      const tbody = $('cameras').querySelector('tbody');
      tbody.textContent = '';
      for (const camera of body.cameras) {
        const row = document.createElement('tr');
        row.dataset.site = camera.site;
        row.dataset.camera = camera.camera;
        cell(row, camera.site);
        cell(row, camera.camera);
        cell(row, text(camera.state)).className = 'state';
        cell(row, typeof camera.temperature === 'number' ? camera.temperature.toFixed(1) + ' °C' : text(camera.temperature));
        cell(row, camera.last_frame).className = 'last-frame';
        cell(row, age(camera.last_stored));
        cell(row, camera.frames).className = 'frames';
        cell(row, text(camera.export_backlog)).className = 'backlog';
        cell(row, typeof camera.export_lag === 'number' ? camera.export_lag.toFixed(1) + ' s' : text(camera.export_lag)).className = 'lag';
        cell(row, age(camera.last_seen));
        tbody.appendChild(row);
      }
      $('cameras-empty').hidden = body.cameras.length > 0;
      setOptions($('site'), body.cameras.map((c) => c.site));
      setOptions($('camera'), body.cameras.map((c) => c.camera));
    } catch (error) {
      $('health').textContent = 'unreachable';
      $('health').className = 'pill bad';
    }
  }

  function query(cursor) {
    const parameters = new URLSearchParams();
    for (const name of ['site', 'camera', 'night']) {
      const value = $(name).value;
      if (value) parameters.set(name, value);
    }
    parameters.set('sort', '-date_obs');
    parameters.set('limit', '100');
    if (cursor) parameters.set('cursor', cursor);
    return '/v1/frames?' + parameters.toString();
  }

  async function loadFrames(append) {
    const tbody = $('frames').querySelector('tbody');
    try {
      const page = await get(query(append ? next : null));
      $('error').hidden = true;
      if (!append) tbody.textContent = '';
      for (const frame of page.frames) {
        const row = document.createElement('tr');
        row.dataset.id = frame.id;
        cell(row, frame.id);
        cell(row, frame.site);
        cell(row, frame.camera);
        cell(row, frame.night);
        cell(row, frame.date_obs);
        cell(row, frame.imagetyp);
        cell(row, frame.filter);
        cell(row, frame.object);
        cell(row, frame.exptime);
        cell(row, typeof frame.fwhm === 'number' ? frame.fwhm.toFixed(2) : null);
        const link = document.createElement('a');
        link.href = '/v1/frames/' + frame.id + '/file';
        link.textContent = frame.path;
        cell(row, '').replaceChildren(link);
        tbody.appendChild(row);
      }
      next = page.frames.length === 100 ? page.next : null;
      $('more').hidden = !next;
    } catch (error) {
      $('error').textContent = error.message;
      $('error').hidden = false;
    }
  }

  async function refreshProblems() {
    try {
      const body = await get('/v1/problems?limit=50');
      const tbody = $('problems').querySelector('tbody');
      tbody.textContent = '';
      for (const problem of body.problems) {
        const row = document.createElement('tr');
        cell(row, problem.kind);
        cell(row, problem.site);
        cell(row, problem.camera);
        cell(row, problem.path);
        cell(row, problem.detail);
        cell(row, problem.count);
        cell(row, age(problem.last_seen));
        cell(row, problem.resolved ? age(problem.resolved) : 'no');
        tbody.appendChild(row);
      }
    } catch (error) {
      // The cameras' refresh shows an unreachable archive.
    }
  }

  $('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    loadFrames(false);
  });
  $('more').addEventListener('click', () => loadFrames(true));
  refreshCameras();
  loadFrames(false);
  refreshProblems();
  setInterval(() => { refreshCameras(); refreshProblems(); }, 5000);
})();
