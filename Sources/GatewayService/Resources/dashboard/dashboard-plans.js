  // The dashboard's script, the plan queue panel (after parts 1 and 2, whose helpers it uses):
  // the queue in order and the last finished plans (`v1/plans`), each with its progress and
  // what it waits for, and the controls: pause, resume, cancel, move up or down; a plan can be
  // submitted as JSON. Each `catalog.plan` event reloads it (part 2's event handlers).
  debug.planLoads = 0;
  const plans = { list: [] };

  async function loadPlans() {
    try {
      const reply = await api('v1/plans?limit=10');
      plans.list = reply.plans || [];
    } catch (e) {
      text('plans-summary', 'the plan queue is unavailable: ' + e.message);
      return false;
    }
    showPlans();
    return true;
  }

  function planAction(plan, action) {
    return el('button', { type: 'button', class: 'quiet', 'data-action': action, 'data-plan': plan.id }, action);
  }

  function showPlans() {
    const queued = plans.list.filter((p) => p.position !== undefined && p.position !== null);
    const running = plans.list.find((p) => p.state === 'running');
    text('plans-summary', queued.length === 0 ? 'the queue is empty'
      : queued.length + ' plan(s) in the queue' + (running ? '; running ' + running.name : ''));
    $('plans-table').tBodies[0].replaceChildren(...plans.list.map((p) => {
      const percent = p.frames_total > 0 ? Math.round(100 * p.frames_done / p.frames_total) : (p.state === 'done' ? 100 : 0);
      const actions = [];
      if (p.state === 'queued' || p.state === 'running') actions.push(planAction(p, 'pause'));
      if (p.state === 'paused' || p.state === 'failed') actions.push(planAction(p, 'resume'));
      if (p.state !== 'done' && p.state !== 'cancelled') actions.push(planAction(p, 'cancel'));
      if (p.position !== undefined && p.position !== null && p.state !== 'running') actions.push(planAction(p, 'up'), planAction(p, 'down'));
      return el('tr', { 'data-id': p.id, 'data-state': p.state },
        el('td', {}, p.position === undefined || p.position === null ? '–' : String(p.position)),
        el('td', {}, p.name), el('td', {}, p.state),
        el('td', {}, el('progress', { max: '100', value: String(percent) }), ' ' + p.frames_done + '/' + p.frames_total),
        el('td', {}, p.current_step ? p.current_step + '/' + p.steps.length : '–'),
        el('td', { class: 'muted' }, p.reason || ''),
        el('td', {}, ...actions));
    }));
    debug.planLoads += 1;
    debug.planRows = plans.list.length;
  }

  $('plans-table').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const id = button.getAttribute('data-plan');
    const action = button.getAttribute('data-action');
    const plan = plans.list.find((p) => p.id === id);
    if (!plan) return;
    button.disabled = true;
    const done = () => loadPlans();
    if (action === 'up' || action === 'down') {
      const position = Math.max(0, plan.position + (action === 'up' ? -1 : 1));
      command('Move', 'v1/plans/' + id + '/move', { position }, done).finally(() => { button.disabled = false; });
    } else {
      command(action[0].toUpperCase() + action.slice(1), 'v1/plans/' + id + '/' + action, {}, done)
        .finally(() => { button.disabled = false; });
    }
  });

  $('plan-form').addEventListener('submit', (event) => {
    event.preventDefault();
    let body;
    try {
      body = JSON.parse($('plan-json').value);
    } catch (e) {
      say('Plan: not JSON (' + e.message + ')', 'error');
      return;
    }
    command('Plan', 'v1/plans', body, (plan) => {
      say('Plan ' + plan.id + ' queued: ' + plan.frames_total + ' frame(s) in ' + plan.steps.length + ' step(s).', 'ok');
      loadPlans();
    });
  });

  loadPlans();
