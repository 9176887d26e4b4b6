  // The dashboard's script, the export panel (after parts 1 and 2, whose helpers it uses): how
  // the export of frames to the facility's archive stands (`v1/export`, then each
  // `catalog.export` event, at each change): connection, backlog, lag, what went, the last error,
  // and the pause and resume buttons.
  debug.exportUpdates = 0;

  function megabytes(bytes) {
    const n = Number(bytes) || 0;
    return n >= 1e9 ? (n / 1e9).toFixed(2) + ' GB' : (n / 1e6).toFixed(1) + ' MB';
  }

  function showExport(s) {
    if (!s) return;
    const stateText = !s.enabled ? 'off (export.enabled = false)'
      : s.paused ? 'paused' : s.connected ? 'sending to ' + (s.server || 'NATS') : 'NATS unreachable: retrying';
    text('export-state', stateText);
    $('export-state').setAttribute('data-state', !s.enabled ? 'off' : s.paused ? 'paused' : s.connected ? 'connected' : 'disconnected');
    text('export-stream', s.stream);
    text('export-backlog', s.backlog_frames + ' frame(s), ' + megabytes(s.backlog_bytes));
    text('export-lag', s.backlog_frames > 0 ? duration(s.lag_seconds) : 'none');
    text('export-sent', s.sent_frames + ' frame(s), ' + megabytes(s.sent_bytes) + (s.duplicates ? ', ' + s.duplicates + ' duplicate message(s) dropped' : ''));
    text('export-last', s.last_path ? s.last_path + ' (' + Number(s.last_lag_seconds || 0).toFixed(2) + ' s after it was written)' : '–');
    text('export-error', s.last_error || '–');
    $('export-pause').hidden = !s.enabled || s.paused;
    $('export-resume').hidden = !s.enabled || !s.paused;
    debug.exportUpdates += 1;
    debug.exportBacklog = s.backlog_frames;
    debug.exportPaused = s.paused;
  }

  async function loadExport() {
    try {
      showExport(await api('v1/export'));
    } catch (e) {
      text('export-state', 'unavailable: ' + e.message);
    }
  }

  $('export-pause').addEventListener('click', () => command('Pause export', 'v1/export/pause', {}, showExport));
  $('export-resume').addEventListener('click', () => command('Resume export', 'v1/export/resume', {}, showExport));

  loadExport();
