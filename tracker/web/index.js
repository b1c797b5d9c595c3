// The main page: picks an experiment, polls the leaderboard, overlays the
// curves of the selected trials (train and validation together, the learning
// rate on its own log axis), and redraws the parallel coordinates and the
// importance chart. Filtering by experiment and `where` conditions happens in
// the store; by status and free text, and sorting by a column, in the page.
'use strict';

(() => {
  const {el, clear, cell, colour, getJSON} = Stride;
  const params = new URLSearchParams(location.search);
  const state = {
    experiment: params.has('experiment') ? params.get('experiment') : null,
    board: null,
    sortKey: null,   // null: the store's order (rank)
    sortDescending: false,
    selected: new Set(),
    userSelected: false,
  };
  const $ = (id) => document.getElementById(id);
  const charts = {
    loss: Stride.lineChart($('chart-loss'), 'loss (train solid, validation dashed)'),
    accuracy: Stride.lineChart($('chart-accuracy'), 'accuracy (train solid, validation dashed)'),
    lr: Stride.lineChart($('chart-lr'), 'learning rate', {logY: true}),
  };
  const chartMetrics = {loss: ['train_loss', 'val_loss'], accuracy: ['train_accuracy', 'val_accuracy'], lr: ['lr']};
  let importanceChart = null;

  // ---- experiments

  // Until someone picks one (or the address names one): the most recently
  // active experiment, which is what a running grid writes.
  function chooseExperiment(list) {
    const select = $('experiment');
    const gone = state.experiment && !list.some((e) => e.name === state.experiment);
    if (state.experiment === null || gone) {
      const latest = list.slice().sort((a, b) => (b.last_activity || 0) - (a.last_activity || 0))[0];
      state.experiment = latest ? latest.name : null;
    }
    const wanted = [''].concat(list.map((e) => e.name));
    const shown = Array.from(select.options).map((o) => o.value);
    if (wanted.join('\n') !== shown.join('\n')) {
      clear(select);
      select.append(el('option', {value: ''}, '(all experiments)'));
      for (const e of list) select.append(el('option', {value: e.name}, `${e.name} (${e.trials})`));
    } else {
      list.forEach((e, i) => { select.options[i + 1].textContent = `${e.name} (${e.trials})`; });
    }
    select.value = state.experiment || '';
  }

  // ---- leaderboard

  function columns(board) {
    const list = [
      {key: 'select', label: '', sortable: false},
      {key: 'rank', label: 'rank', value: (t) => t.rank},
      {key: 'id', label: 'id', value: (t) => t.id},
    ];
    if (!state.experiment) list.push({key: 'experiment', label: 'experiment', value: (t) => t.experiment});
    list.push({key: 'status', label: 'status', value: (t) => t.status});
    for (const p of board.params) list.push({key: 'param:' + p.name, label: p.name, value: (t) => t.params[p.name]});
    list.push({key: 'epochs', label: 'epochs', value: (t) => t.epochs});
    list.push({key: 'best', label: 'best', value: (t) => (t.best ? t.best.value : null),
               title: (t) => (t.best ? `${t.best.metric} (${t.best.goal})` : '')});
    list.push({key: 'best_epoch', label: 'best epoch', value: (t) => (t.best ? t.best.epoch : null)});
    for (const m of board.metrics) list.push({key: 'metric:' + m, label: m, value: (t) => t.metrics[m]});
    return list;
  }

  function rowText(t) {
    return [t.id, t.experiment, t.status, ...Object.values(t.params), ...Object.keys(t.params)]
        .map(String).join(' ').toLowerCase();
  }

  function visibleTrials(board, cols) {
    const status = $('status').value;
    const needle = $('find').value.trim().toLowerCase();
    let trials = board.trials.filter((t) => {
      if (status === 'finished' && t.rank === null) return false;
      if (status && status !== 'finished' && t.status !== status) return false;
      return !needle || rowText(t).includes(needle);
    });
    const column = cols.find((c) => c.key === state.sortKey);
    if (column) {
      const sign = state.sortDescending ? -1 : 1;
      trials = trials.slice().sort((a, b) => {
        const va = column.value(a), vb = column.value(b);
        const missingA = va === null || va === undefined, missingB = vb === null || vb === undefined;
        if (missingA || missingB) return missingA === missingB ? 0 : missingA ? 1 : -1;
        if (typeof va === 'number' && typeof vb === 'number') return sign * (va - vb);
        return sign * String(va).localeCompare(String(vb));
      });
    }
    return trials;
  }

  function renderLeaderboard(board) {
    const table = $('leaderboard');
    const cols = columns(board);
    const head = clear(table.tHead);
    const headRow = el('tr');
    for (const c of cols) {
      const classes = [c.sortable === false ? '' : 'sortable'];
      if (c.key === state.sortKey) classes.push(state.sortDescending ? 'sorted-desc' : 'sorted-asc');
      if (c.key.startsWith('param:') || c.key === 'status' || c.key === 'experiment') classes.push('text');
      const th = el('th', {class: classes.join(' ').trim(), title: c.label}, Stride.abbreviate(c.label, 24));
      if (c.sortable !== false) th.addEventListener('click', () => sortBy(c.key));
      headRow.append(th);
    }
    head.append(headRow);

    const body = clear(table.tBodies[0]);
    const trials = visibleTrials(board, cols);
    for (const t of trials) {
      const row = el('tr', {class: t.rank === 1 ? 'rank-1' : t.rank === null ? 'unranked' : '', 'data-id': t.id});
      for (const c of cols) {
        if (c.key === 'select') {
          const box = el('input', {type: 'checkbox', checked: state.selected.has(t.id), title: 'overlay its curves'});
          box.addEventListener('change', () => toggle(t.id, box.checked));
          row.append(el('td', {}, el('span', {class: 'swatch', style: `background:${colour(t.id)}`}), box));
        } else if (c.key === 'id') {
          row.append(el('td', {}, el('a', {href: `/trial/${t.id}`}, String(t.id))));
        } else if (c.key === 'status') {
          row.append(el('td', {class: `text status-${t.status}`, title: t.error || ''}, t.status));
        } else {
          const td = cell(c.value(t));
          if (c.title && c.title(t)) td.title = c.title(t);
          row.append(td);
        }
      }
      body.append(row);
    }
    table.dataset.trials = String(trials.length);
  }

  function sortBy(key) {
    if (state.sortKey !== key) {
      state.sortKey = key;
      state.sortDescending = false;
    } else if (!state.sortDescending) {
      state.sortDescending = true;
    } else {
      state.sortKey = null;  // third click: back to the ranking
    }
    if (state.board) renderLeaderboard(state.board);
  }

  function toggle(id, on) {
    state.userSelected = true;
    if (on) state.selected.add(id); else state.selected.delete(id);
    refreshCurves().catch((e) => { $('error').textContent = e.message; $('error').hidden = false; });
  }

  // Until someone ticks a box: the running trials and the five best.
  function defaultSelection(board) {
    if (state.userSelected) return;
    const running = board.trials.filter((t) => t.status === 'running').map((t) => t.id);
    const best = board.trials.filter((t) => t.rank !== null).slice(0, 5).map((t) => t.id);
    state.selected = new Set(running.concat(best).slice(0, 10));
  }

  // ---- curves

  async function refreshCurves() {
    const overlay = $('overlay');
    const ids = Array.from(state.selected);
    let series = [];
    if (ids.length) {
      const metrics = Object.values(chartMetrics).flat().join(',');
      series = (await getJSON(`/api/curves?ids=${ids.join(',')}&metrics=${metrics}`)).series;
    }
    let points = 0;
    for (const [name, metrics] of Object.entries(chartMetrics)) {
      const datasets = series.filter((s) => metrics.includes(s.metric))
                             .map((s) => Stride.dataset(s.trial, s.metric, s.points));
      points += Stride.setDatasets(charts[name], datasets);
    }
    overlay.dataset.trials = String(new Set(series.map((s) => s.trial)).size);
    overlay.dataset.points = String(points);
  }

  // ---- importance

  async function refreshImportance() {
    const caption = $('importance-caption');
    const box = $('importance');
    if (!state.experiment) {
      caption.textContent = 'Choose one experiment to see which hyperparameters matter.';
      box.dataset.params = '0';
      if (importanceChart) Stride.setDatasets(importanceChart, []);
      return;
    }
    const result = await getJSON(`/api/importance?experiment=${encodeURIComponent(state.experiment)}`);
    // Parameters that always changed together share one bar: "data.batch_size = data.global_batch_size".
    const labels = result.params.map((p) => Stride.abbreviate([p.name].concat(p.aliases).join(' = '), 30) +
                                            (p.binned ? ' (binned)' : ''));
    const values = result.params.map((p) => 100 * p.importance);
    if (result.params.length) {
      labels.push('interactions + noise');
      values.push(100 * result.unexplained);
    }
    const colours = values.map((v, i) => (i < result.params.length ? '#1f77b4' : '#bbbbbb'));
    if (!importanceChart) {
      importanceChart = new Chart($('chart-importance'), {
        type: 'bar',
        data: {labels: [], datasets: []},
        options: {indexAxis: 'y', animation: false, maintainAspectRatio: false,
                  plugins: {legend: {display: false}, title: {display: true, text: 'share of the objective\'s variance (%)'}},
                  scales: {x: {min: 0, max: 100}}},
      });
    }
    importanceChart.data.labels = labels;
    importanceChart.data.datasets = [{data: values, backgroundColor: colours}];
    importanceChart.update('none');
    const over = result.objective ? `${result.objective} over ${result.trials} finished trials` : 'no objective';
    caption.textContent = `${result.method}: ${over}.` + (result.note ? ` ${result.note}.` : '');
    box.dataset.params = String(result.params.length);
  }

  // ---- the poll

  function whereConditions() {
    return $('where').value.split(';').map((s) => s.trim()).filter((s) => s);
  }

  async function update() {
    const experiments = (await getJSON('/api/experiments')).experiments;
    chooseExperiment(experiments);
    const query = new URLSearchParams();
    if (state.experiment) query.append('experiment', state.experiment);
    for (const condition of whereConditions()) query.append('where', condition);
    const board = await getJSON(`/api/trials?${query}`);
    state.board = board;
    const counts = {};
    for (const t of board.trials) counts[t.status] = (counts[t.status] || 0) + 1;
    $('summary').textContent = experiments.length === 0 ? 'The store holds no experiment yet.' :
        `${board.trials.length} trials (` + Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(', ') +
        `); ranked by ${board.sort}.`;
    defaultSelection(board);
    renderLeaderboard(board);
    await refreshCurves();
    Parallel.render($('parallel'), board);
    await refreshImportance();
  }

  function restart() {
    const query = new URLSearchParams(location.search);
    if (state.experiment) query.set('experiment', state.experiment); else query.delete('experiment');
    history.replaceState(null, '', `${location.pathname}?${query}`);
    state.userSelected = false;
    state.sortKey = null;
    update().catch((e) => { $('error').textContent = e.message; $('error').hidden = false; });
  }

  $('experiment').addEventListener('change', (e) => { state.experiment = e.target.value; restart(); });
  $('where').addEventListener('change', restart);
  $('status').addEventListener('change', () => state.board && renderLeaderboard(state.board));
  $('find').addEventListener('input', () => state.board && renderLeaderboard(state.board));
  Stride.poll(update);
})();
