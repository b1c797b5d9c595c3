// One trial's page: facts and parameters, per-epoch curves (losses together,
// accuracies together, the learning rate on a log axis, any other metric on
// its own chart), every decision its callbacks took, and each evaluation's
// per-class report and confusion matrix. Polled while the trial runs.
'use strict';

(() => {
  const {el, clear, cell, getJSON, formatNumber, formatTime} = Stride;
  const $ = (id) => document.getElementById(id);
  const trialId = Number(location.pathname.split('/').pop());
  const charts = new Map();  // chart name -> Chart
  let last = null;

  function facts(t) {
    const body = clear($('facts').tBodies[0]);
    const rows = [
      ['experiment', t.experiment], ['status', t.status], ['epochs', t.epochs],
      ['best', t.best ? `${t.best.metric} ${formatNumber(t.best.value)} at epoch ${t.best.epoch} (${t.best.goal})` : ''],
      ['device', `${t.device} x ${t.world_size}`], ['host', `${t.host} (pid ${t.pid})`],
      ['started', formatTime(t.started_at)], ['ended', formatTime(t.ended_at)],
      ['last heartbeat', formatTime(t.heartbeat_at)], ['attempts', t.attempts],
      ['checkpoint', t.checkpoint || ''], ['error', t.error || ''],
    ];
    for (const [name, value] of rows) body.append(el('tr', {}, el('td', {}, name), cell(value, 80)));
    const params = clear($('params').tBodies[0]);
    for (const [name, value] of Object.entries(t.params)) params.append(el('tr', {}, el('td', {}, name), cell(value, 48)));
  }

  // Losses share a chart, accuracies share a chart, lr has a log axis, the rest one each.
  function chartGroups(curves) {
    const groups = new Map();
    const add = (key, title, metric, options = {}) => {
      if (!groups.has(key)) groups.set(key, {title, metrics: [], options});
      groups.get(key).metrics.push(metric);
    };
    // The charts people look at first come first.
    const first = (m) => (m.endsWith('_loss') ? 0 : m.endsWith('_accuracy') ? 1 : m === 'lr' ? 2 : 3);
    const metrics = Object.keys(curves).sort((a, b) => first(a) - first(b) || a.localeCompare(b));
    for (const metric of metrics) {
      if (metric.endsWith('_loss')) add('loss', 'loss', metric);
      else if (metric.endsWith('_accuracy')) add('accuracy', 'accuracy', metric);
      else if (metric === 'lr') add('lr', 'learning rate', metric, {logY: true});
      else add(metric, metric, metric);
    }
    return groups;
  }

  function renderCurves(curves) {
    const box = $('curves');
    let points = 0;
    for (const [key, group] of chartGroups(curves)) {
      if (!charts.has(key)) {
        const canvas = el('canvas');
        box.append(el('div', {class: 'chart', 'data-chart': key}, canvas));
        charts.set(key, Stride.lineChart(canvas, group.title, group.options));
      }
      const datasets = group.metrics.map((m, i) => {
        const d = Stride.dataset(trialId, m, curves[m], m);
        const hue = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728'][i % 4];
        return Object.assign(d, {borderColor: hue, backgroundColor: hue});
      });
      points += Stride.setDatasets(charts.get(key), datasets);
    }
    box.dataset.points = String(points);
  }

  function renderDecisions(decisions) {
    const hideKeep = $('hide-keep').checked;
    const body = clear($('decisions').tBodies[0]);
    let rows = 0;
    for (const d of decisions) {
      if (hideKeep && d.kind === 'keep') continue;
      body.append(el('tr', {class: d.kind === 'keep' ? '' : 'rank-1'},
                     cell(d.epoch), cell(d.checker), cell(d.kind), cell(d.monitor), cell(d.value), cell(d.best),
                     cell(d.wait), cell(d.patience_left), cell(d.reason, 120)));
      ++rows;
    }
    $('decisions').dataset.rows = String(rows);
  }

  function classReport(e) {
    const table = el('table', {class: 'report'});
    table.append(el('tr', {}, ...['class', 'precision', 'recall', 'f1', 'support'].map((h) => el('th', {}, h))));
    let support = 0;
    for (const c of e.classes) {
      support += c.support;
      table.append(el('tr', {}, cell(c.name, 24), cell(c.precision), cell(c.recall), cell(c.f1), cell(c.support)));
    }
    for (const [name, a] of [['macro avg', e.macro], ['weighted avg', e.weighted]])
      table.append(el('tr', {}, el('td', {class: 'text'}, name), cell(a.precision), cell(a.recall), cell(a.f1),
                      cell(support)));
    return table;
  }

  // Rows are true classes, columns predictions; a cell's shade is its share of the row.
  function confusion(e) {
    const names = e.confusion.map((row, i) => (e.classes[i] ? e.classes[i].name : String(i)));
    const table = el('table', {class: 'confusion'});
    table.append(el('tr', {}, el('th', {}, 'true \\ predicted'),
                    ...names.map((n) => el('th', {title: n}, Stride.abbreviate(n, 10)))));
    e.confusion.forEach((row, i) => {
      const total = row.reduce((a, b) => a + b, 0) || 1;
      const tr = el('tr', {}, el('th', {class: 'text', title: names[i]}, Stride.abbreviate(names[i], 16)));
      row.forEach((count, j) => {
        const share = count / total;
        const background = i === j ? `rgba(31,119,180,${share})` : `rgba(214,39,40,${share})`;
        tr.append(el('td', {style: `background:${background}`, title: `${names[i]} as ${names[j]}: ${count}`},
                     String(count)));
      });
      table.append(tr);
    });
    return table;
  }

  function renderEvaluations(evaluations) {
    const box = clear($('evaluations'));
    if (!evaluations.length) box.append(el('p', {class: 'hint'}, 'No evaluation recorded for this trial.'));
    for (const e of evaluations) {
      const loss = e.loss === null ? '' : `, loss ${formatNumber(e.loss)}`;
      box.append(el('h3', {}, `split ${e.split}: accuracy ${formatNumber(e.accuracy)}${loss}`));
      box.append(el('div', {class: 'columns'}, classReport(e), confusion(e)));
    }
    box.dataset.splits = String(evaluations.length);
  }

  async function update() {
    const detail = await getJSON(`/api/trial/${trialId}`);
    last = detail;
    const t = detail.trial;
    document.title = `trial ${t.id} - stride`;
    $('title').textContent = `trial ${t.id} of ${t.experiment}: ${t.status}`;
    $('back').href = `/?experiment=${encodeURIComponent(t.experiment)}`;
    facts(t);
    renderCurves(detail.curves);
    renderDecisions(detail.decisions);
    renderEvaluations(detail.evaluations);
    $('config').textContent = t.config;
  }

  $('hide-keep').addEventListener('change', () => last && renderDecisions(last.decisions));
  Stride.poll(update);
})();
