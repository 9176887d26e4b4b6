  // The dashboard's script, the focus panel (after parts 1 and 2, whose helpers it uses): a focus
  // session of the processor's (`v1/focus/sessions`), its points, the fitted best positions and
  // the plot the gateway draws. The session id is kept in the browser, as evora's Focus tab does.
  const FOCUS_KEY = 'aperture.focus-session';
  debug.focusLoads = 0;

  function focusSession() {
    let id = storageGet(FOCUS_KEY);
    if (!id) { id = Date.now().toString(); storageSet(FOCUS_KEY, id); }
    return id;
  }

  function bestText(fit, error) {
    if (fit) {
      const spread = fit.best_focus_uncertainty ? ' ± ' + num(fit.best_focus_uncertainty, 0) : '';
      return num(fit.best_focus, 0) + spread + ' (' + num(fit.best_metric, 2) + ' px' + (fit.extrapolated ? ', outside the points' : '') + ')';
    }
    return error || 'from 3 positions';
  }

  function showFocus(session) {
    const id = focusSession();
    text('focus-session', id + (session ? ' · ' + session.points.length + ' point(s)' : ' · no points yet'));
    const points = session ? session.points : [];
    text('focus-best-fwhm', session && points.length ? bestText(session.fwhm_fit, session.fwhm_fit_error) : '–');
    text('focus-best-hfd', session && points.length ? bestText(session.hfd_fit, session.hfd_fit_error) : '–');
    $('focus-points').tBodies[0].replaceChildren(...points.map((p) => el('tr', {},
      el('td', { class: 'num' }, num(p.position)), el('td', { class: 'num' }, num(p.measurement.median_fwhm, 2)),
      el('td', { class: 'num' }, num(p.measurement.median_hfd, 2)), el('td', { class: 'num' }, p.measurement.star_count),
      el('td', {}, p.measurement.filename))));
    const plot = $('focus-plot');
    if (points.length) {
      plot.src = 'v1/focus/sessions/' + encodeURIComponent(id) + '/plot.png?n=' + points.length + '&t=' + Date.now();
      plot.hidden = false;
    } else {
      plot.removeAttribute('src');
      plot.hidden = true;
    }
    debug.focusLoads += 1;
  }

  // The list, not the session itself: a session with no points yet is not an error (a 404
  // would show in the browser's console).
  async function loadFocus() {
    try {
      const reply = await api('v1/focus/sessions');
      const id = focusSession();
      showFocus(((reply && reply.sessions) || []).find((s) => s.id === id) || null);
    } catch (e) {
      return false;
    }
    return true;
  }

  $('focus-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const typed = $('focus-position').value.trim();
    const position = Number(typed);
    const filename = $('focus-file').value.trim();
    if (typed === '' || !Number.isFinite(position)) { say('Focus: the position must be a number (got "' + typed + '")', 'error'); return; }
    if (!filename) { say('Focus: give a file under the data root, e.g. 20261206/image-0003.fits', 'error'); return; }
    command('Focus', 'v1/focus/sessions/' + encodeURIComponent(focusSession()) + '/points', { position, filename }, (session) => {
      showFocus(session);
      $('focus-file').value = '';
    });
  });

  $('focus-reset').addEventListener('click', async () => {
    try {
      await api('v1/focus/sessions/' + encodeURIComponent(focusSession()), { method: 'DELETE' });
    } catch (e) {
      if (e.status === 401) { showAuth(e.message); return; }
      if (e.status !== 404) { say('Focus reset: ' + e.message, 'error'); return; }
    }
    storageSet(FOCUS_KEY, null);
    showFocus(null);
  });

  loadFocus();
