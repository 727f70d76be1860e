// A warren node's live status page: polls /metrics every 2 s, parses the
// Prometheus text format (0.0.4), and shows per actor and for the node what
// someone watching it wants to see now. The node keeps no history for the
// page: rates, ratios and quantiles are computed here from consecutive
// scrapes, and the charts keep the last 5 minutes in bounded arrays.
//
// The numbers are also written into the DOM as data-* attributes (plain
// numbers, seconds and bytes; absent when unknown), for scripts and tests:
//
//   <body data-status="loading|ok|error" data-scrapes data-scraped-at
//         data-node>                          scraped-at: ms since the epoch,
//                                             when the last good scrape began
//   <tr data-actor data-queue data-received-total data-handled-total
//       data-failed-total data-handled-rate data-error-ratio
//       data-p50-seconds data-p99-seconds data-in-flight data-prefetch
//       data-restarts data-queue-depth>       one per actor (instance)
//   <dd id="node-connections" data-up data-total>
//   <dd id="node-cpu" data-cpu-cores-used data-cpu-cores>
//   <dd id="node-memory" data-resident-bytes data-limit-bytes>
//   <canvas id="chart-rate|chart-p99|chart-queue" data-points data-series>
//                                             points plotted (all series)
//   <tr data-supervisor data-restarts>        one per supervisor
'use strict';

const poll_ms = 2000;
const fetch_timeout_ms = 5000;
const chart_window_ms = 5 * 60 * 1000;
const max_points = Math.ceil(chart_window_ms / poll_ms) + 2;
// Quantiles and the error ratio over the last 10 s: over one 2 s interval
// a p99 would be the slowest of a handful of messages, and one failure in
// a few messages a jump to tens of percent.
const quantile_window_ms = 10000;
const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
                 '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

// -- the text format ----------------------------------------------------------

function parse_value(text) {
  if (text === undefined || text === '')
    return NaN;
  if (text === '+Inf')
    return Infinity;
  if (text === '-Inf')
    return -Infinity;
  return Number(text);
}

// One sample line, `name{label="value",...} value [timestamp]`, as
// {name, labels, value}; null when the line is not one.
function parse_sample(line) {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ' &&
         line[i] !== '\t')
    i++;
  const name = line.slice(0, i);
  if (name === '')
    return null;
  const labels = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',')
        i++;
      if (i >= line.length)
        return null;
      if (line[i] === '}') {
        i++;
        break;
      }
      const eq = line.indexOf('=', i);
      if (eq < 0)
        return null;
      const key = line.slice(i, eq).trim();
      i = eq + 1;
      if (line[i] !== '"')
        return null;
      i++;
      let value = '';
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && i + 1 < line.length) {
          i++;
          value += line[i] === 'n' ? '\n' : line[i];
        } else {
          value += line[i];
        }
        i++;
      }
      if (i >= line.length)
        return null;
      i++; // the closing quote
      labels[key] = value;
    }
  }
  const value = parse_value(line.slice(i).trim().split(/\s+/)[0]);
  return {name, labels, value};
}

// A scrape: its start time and its samples by metric name.
function parse_exposition(text, t) {
  const by_name = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line[0] === '#')
      continue;
    const sample = parse_sample(line);
    if (sample === null)
      continue;
    if (!by_name.has(sample.name))
      by_name.set(sample.name, []);
    by_name.get(sample.name).push(sample);
  }
  return {t, by_name};
}

function samples(scrape, name, where = () => true) {
  return (scrape.by_name.get(name) || []).filter(s => where(s.labels));
}

// The sum of the matching samples, or null when there is none.
function sum(scrape, name, where) {
  const found = samples(scrape, name, where);
  return found.length === 0 ? null
                            : found.reduce((acc, s) => acc + s.value, 0);
}

// -- arithmetic on scrapes ------------------------------------------------------

// Per second between two scrapes; null when unknown or the counter was
// reset (the node restarted).
function rate(now_value, before_value, seconds) {
  if (now_value === null || before_value === null || seconds <= 0)
    return null;
  const delta = now_value - before_value;
  return delta < 0 ? null : delta / seconds;
}

// The cumulative buckets of one histogram as [{le, count}], sorted.
function buckets(scrape, name, where) {
  const out = samples(scrape, name + '_bucket', where)
                .map(s => ({le: parse_value(s.labels.le), count: s.value}));
  out.sort((a, b) => a.le - b.le);
  return out;
}

// The q-quantile of what a histogram observed between two scrapes,
// interpolated linearly inside its bucket (as Prometheus's
// histogram_quantile does); null when nothing was observed.
function quantile(q, now_buckets, before_buckets) {
  if (now_buckets.length === 0)
    return null;
  const before = new Map(before_buckets.map(b => [b.le, b.count]));
  const delta = now_buckets.map(
    b => ({le: b.le, count: b.count - (before.get(b.le) || 0)}));
  const total = delta[delta.length - 1].count;
  if (!(total > 0) || delta.some(b => b.count < 0))
    return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of delta) {
    if (b.count >= rank) {
      if (b.le === Infinity)
        return lower; // above every finite bound: the highest one
      const inside = b.count - below;
      return inside > 0 ? lower + (b.le - lower) * (rank - below) / inside
                        : b.le;
    }
    lower = b.le;
    below = b.count;
  }
  return lower;
}

// -- formatting ---------------------------------------------------------------

// At most `digits` decimals, fewer for larger numbers.
function format_number(v, digits = 2) {
  if (v === null || !Number.isFinite(v))
    return '–';
  if (Math.abs(v) >= 100 || digits === 0)
    return Math.round(v).toLocaleString('en');
  return v.toFixed(Math.abs(v) >= 10 ? Math.min(1, digits) : digits);
}

// Three significant digits at most: 53 µs, 1.25 ms, 375 ms, 2.5 s.
function format_seconds(v) {
  if (v === null || !Number.isFinite(v))
    return '–';
  const [scaled, unit] = v < 0.001 ? [v * 1e6, 'µs']
                         : v < 1   ? [v * 1000, 'ms']
                                   : [v, 's'];
  return `${Number(scaled.toPrecision(3))} ${unit}`;
}

function format_bytes(v) {
  if (v === null || !Number.isFinite(v))
    return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return format_number(v, 1) + ' ' + units[i];
}

function format_ratio(v) {
  return v === null ? '–' : (v * 100).toFixed(1) + ' %';
}

function format_duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor(s / 3600) % 24;
  const m = Math.floor(s / 60) % 60;
  if (d > 0)
    return `${d} d ${h} h`;
  if (h > 0)
    return `${h} h ${m} min`;
  return m > 0 ? `${m} min ${s % 60} s` : `${s} s`;
}

function format_clock(ms) {
  const d = new Date(ms);
  const pad = n => String(n).padStart(2, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// Sets data-<key> to a number, or removes it when the value is unknown.
function set_data(element, key, value) {
  if (value === null || value === undefined || Number.isNaN(value))
    delete element.dataset[key];
  else
    element.dataset[key] = String(value);
}

// -- what the page shows --------------------------------------------------------

// The figures of one actor (an instance: label `actor`) from the last
// scrape, the one before it and the one about 10 s before it.
function actor_figures(actor, queue, now, prev, base) {
  const who = labels => labels.actor === actor;
  const received = sum(now, 'warren_messages_received_total', who);
  const handled = sum(now, 'warren_messages_handled_total', who);
  const failed = sum(now, 'warren_messages_failed_total', who);
  const f = {
    actor, queue, received, handled, failed,
    in_flight: sum(now, 'warren_deliveries_in_flight', who),
    prefetch: sum(now, 'warren_prefetch', who),
    handled_rate: null, error_ratio: null, p50: null, p99: null,
    restarts: null, queue_depth: null,
  };
  if (prev !== null)
    f.handled_rate = rate(handled, sum(prev, 'warren_messages_handled_total',
                                       who), (now.t - prev.t) / 1000);
  if (base !== null) {
    const seconds = (now.t - base.t) / 1000;
    const received_rate = rate(received,
                               sum(base, 'warren_messages_received_total',
                                   who), seconds);
    const failed_rate = rate(failed, sum(base, 'warren_messages_failed_total',
                                         who), seconds);
    if (received_rate !== null && failed_rate !== null && received_rate > 0)
      f.error_ratio = Math.min(1, failed_rate / received_rate);
    else if (received_rate === 0)
      f.error_ratio = 0;
    const name = 'warren_handler_duration_seconds';
    const now_buckets = buckets(now, name, who);
    const base_buckets = buckets(base, name, who);
    f.p50 = quantile(0.5, now_buckets, base_buckets);
    f.p99 = quantile(0.99, now_buckets, base_buckets);
  }
  // Restarts are counted per supervisor (label `supervisor`, its id), not
  // per child: an actor has its own only when a series names it.
  f.restarts = sum(now, 'warren_supervisor_restarts_total',
                   l => l.actor === actor || l.child === actor);
  if (queue !== null)
    f.queue_depth = sum(now, 'warren_queue_messages', l => l.queue === queue);
  return f;
}

// The actors of a scrape (label `actor`) and the queue each consumes
// (warren_actor_queue_info), sorted by name.
function actors_of(scrape) {
  const queues = new Map();
  for (const s of samples(scrape, 'warren_actor_queue_info'))
    queues.set(s.labels.actor, s.labels.queue);
  for (const s of samples(scrape, 'warren_messages_received_total'))
    if (!queues.has(s.labels.actor))
      queues.set(s.labels.actor, null);
  return [...queues.entries()].sort((a, b) => a[0] < b[0] ? -1 : 1);
}

function node_figures(now, prev) {
  const up = samples(now, 'warren_connection_up');
  const f = {
    node: null,
    version: null,
    connections_up: up.filter(s => s.value === 1).length,
    connections: up.length,
    cpu_cores_used: null,
    cpu_cores: sum(now, 'warren_process_cpu_cores'),
    resident_bytes: sum(now, 'process_resident_memory_bytes'),
    limit_bytes: sum(now, 'warren_process_memory_limit_bytes'),
    start_seconds: sum(now, 'process_start_time_seconds'),
    supervisors: samples(now, 'warren_supervisor_restarts_total'),
  };
  for (const list of now.by_name.values())
    if (list[0].labels.node !== undefined) {
      f.node = list[0].labels.node;
      break;
    }
  const info = samples(now, 'warren_build_info');
  if (info.length > 0)
    f.version = info[0].labels.version || null;
  if (prev !== null)
    f.cpu_cores_used = rate(sum(now, 'process_cpu_seconds_total'),
                            sum(prev, 'process_cpu_seconds_total'),
                            (now.t - prev.t) / 1000);
  return f;
}

// -- charts -------------------------------------------------------------------

// A line chart of one figure per series over the last 5 minutes; each
// series' points are kept in a bounded array that the chart draws from.
class time_chart {
  constructor(canvas_id, tick_label, y_type = 'linear') {
    this.canvas = document.getElementById(canvas_id);
    this.series = new Map(); // name -> dataset
    this.chart = null;
    if (typeof Chart === 'undefined')
      return; // chart.js did not load: the tables still work
    this.chart = new Chart(this.canvas, {
      type: 'line',
      data: {datasets: []},
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        spanGaps: false,
        elements: {point: {radius: 0}, line: {borderWidth: 1.5}},
        interaction: {mode: 'nearest', axis: 'x', intersect: false},
        scales: {
          x: {
            type: 'linear',
            ticks: {callback: format_clock, maxTicksLimit: 6},
          },
          y: {type: y_type, beginAtZero: y_type === 'linear',
              ticks: {callback: tick_label}},
        },
        plugins: {
          legend: {position: 'bottom',
                   labels: {boxWidth: 10, boxHeight: 10}},
        },
      },
    });
  }

  // Adds the point (t, value) to the series `name` (value null: a gap).
  add(name, color, t, value) {
    let dataset = this.series.get(name);
    if (dataset === undefined) {
      dataset = {label: name, data: [], borderColor: color,
                 backgroundColor: color};
      this.series.set(name, dataset);
      if (this.chart !== null)
        this.chart.data.datasets.push(dataset);
    }
    dataset.data.push({x: t, y: value});
  }

  // Drops points older than 5 minutes (and series left without any), and
  // redraws. The x axis spans the last 5 minutes, or from the oldest point
  // when the page has been open for less.
  update(now) {
    const since = now - chart_window_ms;
    let oldest = now;
    let points = 0;
    for (const [name, dataset] of this.series) {
      const data = dataset.data;
      while (data.length > 0 &&
             (data[0].x < since || data.length > max_points))
        data.shift();
      if (data.length === 0) {
        this.series.delete(name);
        if (this.chart !== null)
          this.chart.data.datasets.splice(
            this.chart.data.datasets.indexOf(dataset), 1);
        continue;
      }
      points += data.filter(p => p.y !== null).length;
      oldest = Math.min(oldest, data[0].x);
    }
    this.canvas.dataset.points = String(points);
    this.canvas.dataset.series = String(this.series.size);
    if (this.chart !== null) {
      this.chart.options.scales.x.min = oldest < now ? oldest : since;
      this.chart.options.scales.x.max = now;
      this.chart.update('none');
    }
  }
}

// -- the page -----------------------------------------------------------------

const colors = new Map();
function color_of(name) {
  if (!colors.has(name))
    colors.set(name, palette[colors.size % palette.length]);
  return colors.get(name);
}

// Three significant digits at most, no trailing zeros.
function format_tick(v) {
  return Number(v.toPrecision(3)).toLocaleString('en');
}

const charts = {
  rate: new time_chart('chart-rate', format_tick),
  // Durations span orders of magnitude (an actor's 50 µs and another's
  // 500 ms): a log scale, labelled at the powers of ten.
  p99: new time_chart('chart-p99', v => {
    const power = Math.log10(v);
    return Math.abs(power - Math.round(power)) < 1e-9 ? format_seconds(v)
                                                      : '';
  }, 'logarithmic'),
  queue: new time_chart('chart-queue', format_tick),
};

// The scrapes of the last quantile window and a little more.
const history = [];
let scrape_count = 0;

function cell(row, index, text, bad = false) {
  const td = row.cells[index];
  td.textContent = text;
  td.classList.toggle('bad', bad);
  return td;
}

function render_actors(figures) {
  const table = document.getElementById('actors');
  // Columns of figures the node does not export are left out.
  table.classList.toggle('no-restarts',
                         figures.every(f => f.restarts === null));
  table.classList.toggle('no-queue-depth',
                         figures.every(f => f.queue_depth === null));
  const tbody = table.tBodies[0];
  const rows = new Map([...tbody.rows].map(r => [r.dataset.actor, r]));
  for (const f of figures) {
    let row = rows.get(f.actor);
    if (row === undefined) {
      row = tbody.insertRow();
      for (let i = 0; i < 10; i++)
        row.insertCell();
      row.cells[8].className = 'restarts';
      row.cells[9].className = 'queue-depth';
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = color_of(f.actor);
      row.cells[0].append(swatch, document.createTextNode(f.actor));
      row.dataset.actor = f.actor;
    }
    rows.delete(f.actor);
    tbody.appendChild(row); // keeps the rows in the figures' order
    cell(row, 1, f.queue === null ? '–' : f.queue);
    cell(row, 2, format_number(f.handled_rate));
    cell(row, 3, format_number(f.handled, 0));
    cell(row, 4, format_ratio(f.error_ratio), f.error_ratio > 0);
    cell(row, 5, format_seconds(f.p50));
    cell(row, 6, format_seconds(f.p99));
    cell(row, 7, `${format_number(f.in_flight, 0)} / ` +
                   format_number(f.prefetch, 0),
         f.in_flight !== null && f.prefetch > 0 && f.in_flight >= f.prefetch);
    cell(row, 8, format_number(f.restarts, 0), f.restarts > 0);
    cell(row, 9, format_number(f.queue_depth, 0));
    if (f.queue !== null)
      row.dataset.queue = f.queue;
    set_data(row, 'receivedTotal', f.received);
    set_data(row, 'handledTotal', f.handled);
    set_data(row, 'failedTotal', f.failed);
    set_data(row, 'handledRate', f.handled_rate);
    set_data(row, 'errorRatio', f.error_ratio);
    set_data(row, 'p50Seconds', f.p50);
    set_data(row, 'p99Seconds', f.p99);
    set_data(row, 'inFlight', f.in_flight);
    set_data(row, 'prefetch', f.prefetch);
    set_data(row, 'restarts', f.restarts);
    set_data(row, 'queueDepth', f.queue_depth);
  }
  for (const gone of rows.values())
    gone.remove();
}

function render_node(f, handled_rate) {
  document.body.dataset.node = f.node || '';
  document.getElementById('node-name').textContent = f.node || '?';
  document.title = `warren ${f.node || ''} status`;

  const connections = document.getElementById('node-connections');
  connections.textContent = `${f.connections_up} / ${f.connections}`;
  connections.classList.toggle('bad', f.connections_up < f.connections);
  set_data(connections, 'up', f.connections_up);
  set_data(connections, 'total', f.connections);

  const cpu = document.getElementById('node-cpu');
  cpu.textContent = f.cpu_cores_used === null
    ? '–'
    : `${(f.cpu_cores_used * 100).toFixed(1)} %` +
        (f.cpu_cores === null ? '' : ` of ${f.cpu_cores} CPUs`);
  set_data(cpu, 'cpuCoresUsed', f.cpu_cores_used);
  set_data(cpu, 'cpuCores', f.cpu_cores);

  const memory = document.getElementById('node-memory');
  memory.textContent = format_bytes(f.resident_bytes) +
    (f.limit_bytes === null ? '' : ` of ${format_bytes(f.limit_bytes)}`);
  set_data(memory, 'residentBytes', f.resident_bytes);
  set_data(memory, 'limitBytes', f.limit_bytes);

  document.getElementById('node-handled').textContent =
    handled_rate === null ? '–' : `${format_number(handled_rate)} /s`;
  document.getElementById('node-uptime').textContent =
    f.start_seconds === null ? '–'
                             : format_duration(Date.now() -
                                               f.start_seconds * 1000);
  document.getElementById('node-version').textContent = f.version || '–';

  const section = document.getElementById('supervisors');
  section.hidden = f.supervisors.length === 0;
  const tbody = section.querySelector('tbody');
  tbody.replaceChildren();
  for (const s of f.supervisors) {
    const row = tbody.insertRow();
    row.dataset.supervisor = s.labels.supervisor || '';
    set_data(row, 'restarts', s.value);
    row.insertCell().textContent = s.labels.supervisor || '?';
    const restarts = row.insertCell();
    restarts.textContent = format_number(s.value, 0);
    restarts.classList.toggle('bad', s.value > 0);
  }
}

function render(now) {
  const prev = history.length > 0 ? history[history.length - 1] : null;
  // The base of the quantiles: the latest scrape at least 10 s old, or the
  // oldest there is.
  let base = null;
  for (const s of history)
    if (base === null || s.t <= now.t - quantile_window_ms)
      base = s;
  history.push(now);
  while (history.length > 2 &&
         history[1].t <= now.t - quantile_window_ms)
    history.shift();

  const figures = actors_of(now).map(
    ([actor, queue]) => actor_figures(actor, queue, now, prev, base));
  render_actors(figures);
  const rates = figures.map(f => f.handled_rate).filter(r => r !== null);
  const node_rate = rates.length === 0 ? null
                                       : rates.reduce((a, b) => a + b, 0);
  render_node(node_figures(now, prev), prev === null ? null : node_rate);

  if (prev !== null) {
    const queues_seen = new Set();
    for (const f of figures) {
      charts.rate.add(f.actor, color_of(f.actor), now.t, f.handled_rate);
      charts.p99.add(f.actor, color_of(f.actor), now.t,
                     f.p99 === null || f.p99 <= 0 ? null : f.p99);
      if (f.queue !== null && f.queue_depth !== null &&
          !queues_seen.has(f.queue)) {
        queues_seen.add(f.queue);
        // In the colour of the first actor that consumes it.
        charts.queue.add(f.queue, color_of(f.actor), now.t, f.queue_depth);
      }
    }
  }
  for (const chart of Object.values(charts))
    chart.update(now.t);
  document.getElementById('chart-queue-empty').hidden =
    now.by_name.has('warren_queue_messages');
}

function show_status(status, text) {
  document.body.dataset.status = status;
  document.getElementById('scrape-status').textContent = text;
}

async function poll() {
  const started = Date.now();
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), fetch_timeout_ms);
  try {
    const response = await fetch('metrics',
                                 {cache: 'no-store', signal: abort.signal});
    if (!response.ok)
      throw new Error(`/metrics answered ${response.status}`);
    const now = parse_exposition(await response.text(), started);
    render(now);
    scrape_count++;
    document.body.dataset.scrapes = String(scrape_count);
    document.body.dataset.scrapedAt = String(started);
    show_status('ok', `updated ${format_clock(started)}`);
  } catch (e) {
    const why = e.name === 'AbortError' ? 'no answer in 5 s' : e.message;
    show_status('error', `cannot read /metrics (${why}); retrying`);
  } finally {
    clearTimeout(timer);
    setTimeout(poll, Math.max(0, started + poll_ms - Date.now()));
  }
}

poll();
