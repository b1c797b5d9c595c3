// Parallel coordinates (d3 v3, Debian's libjs-d3) of the swept
// hyperparameters against the result: one axis per parameter as the store
// describes it (linear, log for values spanning 50x or more, or categories),
// the result last, one line per ranked trial coloured by rank (best yellow,
// drawn on top). A line's tooltip names the trial; clicking opens its page.
'use strict';

const Parallel = (() => {
  const height = 280;
  const margin = {top: 40, right: 60, bottom: 14, left: 60};

  // The result axis: the leaderboard's sort key when it is "best" or a metric.
  function objectiveOf(board) {
    if (board.sort === 'best') {
      const first = board.trials.find((t) => t.rank !== null && t.best);
      return {name: first ? `best ${first.best.metric}` : 'best', value: (t) => (t.best ? t.best.value : null)};
    }
    const metric = board.metrics.includes(board.sort) ? board.sort : board.metrics[0];
    return {name: metric || '', value: (t) => (metric && t.metrics[metric] !== undefined ? t.metrics[metric] : null)};
  }

  function numericScale(values, log) {
    let [low, high] = d3.extent(values);
    if (log) return d3.scale.log().domain([low, high]).range([height, 0]);
    if (low === high) {
      const pad = Math.abs(low) * 0.1 || 1;
      low -= pad;
      high += pad;
    }
    return d3.scale.linear().domain([low, high]).range([height, 0]).nice();
  }

  function axisOf(column, trials) {
    const value = (t) => (column.name in t.params ? t.params[column.name] : null);
    if (column.kind === 'text') {
      const scale = d3.scale.ordinal().domain(column.values).rangePoints([height, 0], 1);
      return {name: column.name, log: false, categorical: true, scale, value: (t) => (value(t) === null ? null : String(value(t)))};
    }
    const values = trials.map(value).filter((v) => v !== null);
    const log = column.scale === 'log' && values.every((v) => v > 0);
    // A grid's few values are the ticks themselves.
    const distinct = Array.from(new Set(values)).sort((a, b) => a - b);
    return {name: column.name, log, categorical: false, scale: numericScale(values.length ? values : [0, 1], log),
            ticks: distinct.length <= 6 ? distinct : null, value};
  }

  function render(container, board) {
    d3.select(container).selectAll('*').remove();
    const objective = objectiveOf(board);
    const trials = board.trials.filter((t) => t.rank !== null && objective.value(t) !== null);
    container.dataset.lines = '0';
    container.dataset.logAxes = '';
    if (!board.params.length || !trials.length) {
      d3.select(container).append('p').attr('class', 'hint')
          .text(!board.params.length ? 'No hyperparameter differs among these trials.' : 'No ranked trial yet.');
      return;
    }
    const axes = board.params.map((p) => axisOf(p, trials));
    const results = trials.map(objective.value);
    axes.push({name: objective.name, log: false, categorical: false, scale: numericScale(results, false),
               value: objective.value});

    const width = Math.max(420, 140 * (axes.length - 1));
    const x = (i) => (axes.length === 1 ? width / 2 : (i * width) / (axes.length - 1));
    const svg = d3.select(container).append('svg')
        .attr('width', width + margin.left + margin.right)
        .attr('height', height + margin.top + margin.bottom)
        .append('g').attr('transform', `translate(${margin.left},${margin.top})`);

    // Rank colours: first yellow, last dark purple.
    const ranks = trials.length;
    const tint = d3.scale.linear().domain([0, Math.max(1, ranks - 1)]).range(['#fde725', '#440154'])
        .interpolate(d3.interpolateHcl);
    const line = d3.svg.line().defined((d) => d !== null);
    const ordered = trials.slice().sort((a, b) => b.rank - a.rank);  // worst first, best on top
    svg.selectAll('path.trial').data(ordered).enter().append('path')
        .attr('class', 'trial')
        .attr('stroke', (t) => tint(t.rank - 1))
        .attr('d', (t) => line(axes.map((a, i) => {
          const v = a.value(t);
          return v === null || v === undefined ? null : [x(i), a.scale(v)];
        })))
        .on('click', (t) => { location.href = `/trial/${t.id}`; })
        .append('title').text((t) => `trial ${t.id} (rank ${t.rank}): ${objective.name} ${Stride.formatNumber(objective.value(t))}`);

    axes.forEach((a, i) => {
      const axis = d3.svg.axis().scale(a.scale).orient(i === axes.length - 1 ? 'right' : 'left');
      if (a.ticks) axis.tickValues(a.ticks).tickFormat(Stride.formatNumber);
      else if (a.log) axis.ticks(4, '.0e');
      else if (!a.categorical) axis.ticks(6);
      const g = svg.append('g').attr('class', 'axis').attr('transform', `translate(${x(i)},0)`).call(axis);
      if (a.categorical) {
        g.selectAll('text').each(function (d) {
          d3.select(this).text(Stride.abbreviate(d, 14)).append('title').text(d);
        });
      }
      svg.append('text').attr('class', 'axis-title').attr('x', x(i)).attr('y', -18).attr('text-anchor', 'middle')
          .text(Stride.abbreviate(a.name, 20) + (a.log ? " (log)" : "")).append('title').text(a.name);
    });
    container.dataset.lines = String(trials.length);
    container.dataset.logAxes = axes.filter((a) => a.log).map((a) => a.name).join(',');
  }

  return {render};
})();
