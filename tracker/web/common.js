// Helpers shared by the dashboard's pages: the JSON API, DOM building (text
// from the store only ever goes through textContent and attributes, never
// innerHTML), number formatting, abbreviation, trial colours, Chart.js charts
// and the polling loop that keeps a page live.
'use strict';

const Stride = (() => {
  const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
                   '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

  // el('td', {class: 'text', title: 'x'}, 'text', childNode, ...)
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'dataset') Object.assign(node.dataset, value);
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  // Long values (a model.layers string is hundreds of characters) are cut with
  // an ellipsis; the caller puts the full text in a tooltip.
  function abbreviate(text, max = 32) {
    text = String(text);
    return text.length <= max ? text : text.slice(0, max - 1) + '\u2026';
  }

  function formatNumber(value) {
    if (value === null || value === undefined) return '';
    if (typeof value !== 'number') return String(value);
    if (Number.isInteger(value)) return String(value);
    const magnitude = Math.abs(value);
    if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e6)) return value.toExponential(2);
    return String(Number(value.toPrecision(4)));
  }

  function formatValue(value) {
    return typeof value === 'number' ? formatNumber(value) : value === null || value === undefined ? '' : String(value);
  }

  function formatTime(seconds) {
    if (!seconds) return '';
    const d = new Date(seconds * 1000);
    const pad = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
           `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  // A table cell: numbers right-aligned, text left-aligned and abbreviated with
  // the full text as its title.
  function cell(value, max = 32) {
    if (typeof value === 'number') return el('td', {title: String(value)}, formatNumber(value));
    const text = formatValue(value);
    if (text.length > max) return el('td', {class: 'text abbreviated', title: text}, abbreviate(text, max));
    return el('td', {class: 'text'}, text);
  }

  function colour(trialId) { return palette[Math.abs(trialId) % palette.length]; }

  async function getJSON(url) {
    const response = await fetch(url, {cache: 'no-store'});
    let body;
    try {
      body = await response.json();
    } catch (e) {
      body = {error: `${response.status} ${response.statusText}`};
    }
    if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
    return body;
  }

  // ?refresh=MS in the page's address sets the polling period (default 2 s).
  function refreshPeriod() {
    const asked = Number(new URLSearchParams(location.search).get('refresh'));
    return Number.isFinite(asked) && asked >= 100 ? asked : 2000;
  }

  // Calls `update` now and again `period` ms after each call settles; the page's
  // body says how many updates succeeded (data-refreshes) and whether the last did.
  function poll(update, period = refreshPeriod()) {
    const live = document.getElementById('live');
    const error = document.getElementById('error');
    const step = async () => {
      try {
        await update();
        document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
        document.body.dataset.state = 'ready';
        error.hidden = true;
        if (live) {
          live.textContent = `updated ${new Date().toLocaleTimeString()}, every ${period / 1000} s`;
          live.classList.remove('lost');
        }
      } catch (e) {
        document.body.dataset.state = 'error';
        error.textContent = e.message;
        error.hidden = false;
        if (live) {
          live.textContent = 'no answer from the server';
          live.classList.add('lost');
        }
      }
      setTimeout(step, period);
    };
    step();
  }

  // A Chart.js line chart over epochs; update with setDatasets.
  function lineChart(canvas, title, {logY = false, yTitle = ''} = {}) {
    return new Chart(canvas, {
      type: 'line',
      data: {datasets: []},
      options: {
        animation: false,
        parsing: false,
        normalized: true,
        maintainAspectRatio: false,
        interaction: {mode: 'nearest', intersect: false},
        plugins: {
          title: {display: true, text: title},
          legend: {position: 'bottom', labels: {boxWidth: 14, font: {size: 10}}},
        },
        scales: {
          x: {type: 'linear', title: {display: true, text: 'epoch'}, ticks: {precision: 0}},
          y: {type: logY ? 'logarithmic' : 'linear', title: {display: !!yTitle, text: yTitle}},
        },
      },
    });
  }

  // One dataset per (trial, metric): the trial's colour, validation dashed.
  function dataset(trialId, metric, points, label) {
    const validation = metric.startsWith('val_') || metric.startsWith('test_');
    return {
      label: label || `#${trialId} ${metric}`,
      data: points.map(([epoch, value]) => ({x: epoch, y: value})),
      borderColor: colour(trialId),
      backgroundColor: colour(trialId),
      borderDash: validation ? [6, 3] : [],
      borderWidth: 1.6,
      pointRadius: points.length > 60 ? 0 : 2,
      spanGaps: false,
    };
  }

  // Replaces the chart's datasets; returns how many points it now draws.
  // Lines hidden through the legend stay hidden across refreshes.
  function setDatasets(chart, datasets) {
    const hidden = new Set(chart.data.datasets.filter((d, i) => !chart.isDatasetVisible(i)).map((d) => d.label));
    for (const d of datasets) d.hidden = hidden.has(d.label);
    chart.data.datasets = datasets;
    chart.update('none');
    return datasets.reduce((sum, d) => sum + d.data.length, 0);
  }

  return {el, clear, abbreviate, formatNumber, formatValue, formatTime, cell, colour, getJSON, refreshPeriod, poll,
          lineChart, dataset, setDatasets};
})();
