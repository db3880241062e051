// volley's live dashboard: reads the server-sent event stream of the run and draws it. No
// library: charts are drawn on canvas by the functions below; nothing is fetched from
// outside this origin.
'use strict';
(function () {
  const token = new URLSearchParams(location.search).get('token');
  const withToken = (path) => token ? path + (path.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token) : path;
  const $ = (id) => document.getElementById(id);
  // [t, requests, failures, p50, p95, p99, vus, connections] per second of the current run.
  let points = [];
  let run = 0;
  let reportUrl = null;

  const fmt = (n, d) => (n === null || n === undefined) ? '–' : Number(n).toLocaleString('en-US', { maximumFractionDigits: d === undefined ? 0 : d });
  const bytes = (b) => b >= 1 << 30 ? fmt(b / (1 << 30), 1) + ' GiB' : b >= 1 << 20 ? fmt(b / (1 << 20), 1) + ' MiB' : fmt(b / 1024, 0) + ' KiB';

  function cell(tr, text) { const td = document.createElement('td'); td.textContent = text; tr.appendChild(td); }
  function rows(tbody, list, cols) {
    tbody.replaceChildren();
    for (const item of list) { const tr = document.createElement('tr'); for (const c of cols(item)) cell(tr, c); tbody.appendChild(tr); }
    if (!list.length) { const tr = document.createElement('tr'); cell(tr, 'none'); tr.firstChild.className = 'muted'; tbody.appendChild(tr); }
  }

  // A line chart of several series, sized to its box: over the run's seconds, or over `xs`
  // (one label per value, e.g. a capacity search's steps).
  function chart(canvas, series, colors, labels, xs) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 300, h = canvas.clientHeight || 180;
    if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const left = 44, bottom = 18, top = 16, right = 8;
    let max = 0;
    for (const s of series) for (const v of s) if (v !== null && v > max) max = v;
    if (max <= 0) max = 1;
    const count = xs ? xs.length : points.length;
    const n = Math.max(2, count);
    const x = (i) => left + (w - left - right) * (i / (n - 1));
    const y = (v) => top + (h - top - bottom) * (1 - v / max);
    g.strokeStyle = '#e2e5ea'; g.fillStyle = '#6b7385'; g.font = '11px system-ui, sans-serif'; g.lineWidth = 1;
    for (let k = 0; k <= 4; k++) {
      const v = max * k / 4; g.beginPath(); g.moveTo(left, y(v)); g.lineTo(w - right, y(v)); g.stroke();
      g.fillText(fmt(v, max < 10 ? 1 : 0), 2, y(v) + 4);
    }
    const xl = xs || points.map((p) => p[0] + ' s');
    if (count) { g.fillText(xl[0], left, h - 4); const last = xl[count - 1]; g.fillText(last, w - right - g.measureText(last).width, h - 4); }
    series.forEach((s, si) => {
      g.strokeStyle = colors[si]; g.lineWidth = 2; g.beginPath(); let pen = false;
      s.forEach((v, i) => { if (v === null) { pen = false; return; } if (pen) g.lineTo(x(i), y(v)); else g.moveTo(x(i), y(v)); pen = true; });
      g.stroke();
    });
    let lx = left;
    labels.forEach((l, i) => { g.fillStyle = colors[i]; g.fillRect(lx, 4, 10, 3); g.fillStyle = '#6b7385'; g.fillText(l, lx + 14, 10); lx += 24 + g.measureText(l).width; });
    canvas.dataset.points = String(count);
  }

  // A capacity search's steps: the rate offered and achieved at each.
  let steps = [];
  function drawSteps() {
    if (!steps.length) return;
    chart($('c-steps'), [steps.map((r) => r.offered_rps), steps.map((r) => r.achieved_rps)], ['#6b7385', '#2563eb'],
      ['offered req/s', 'achieved req/s'], steps.map((r) => 'step ' + r.index));
  }

  function draw() {
    const col = (k) => points.map((p) => p[k]);
    chart($('c-rps'), [col(1), col(2)], ['#2563eb', '#b3261e'], ['requests/s', 'failures/s']);
    chart($('c-lat'), [col(3), col(4), col(5)], ['#2563eb', '#d97706', '#b3261e'], ['p50', 'p95', 'p99']);
    chart($('c-vus'), [col(6), col(7)], ['#2563eb', '#1f7a3f'], ['VUs', 'connections']);
    drawSteps();
  }

  function update(e) {
    if (e.run !== run) { points = []; run = e.run; }
    if (e.from <= points.length) points = points.slice(0, e.from).concat(e.points);
    const phase = $('phase'); phase.textContent = e.phase; phase.className = 'phase ' + e.phase;
    const last = points[points.length - 1];
    $('t-elapsed').textContent = e.elapsed + ' s';
    $('t-requests').textContent = fmt(e.requests);
    $('t-failures').textContent = fmt(e.failures);
    $('t-rps').textContent = last ? fmt(last[1]) : '0';
    $('t-p95').textContent = last && last[4] !== null ? fmt(last[4], 2) + ' ms' : '–';
    $('t-vus').textContent = fmt(e.vus);
    $('t-conns').textContent = fmt(e.connections);
    const th = $('thresholds');
    th.replaceChildren();
    for (const t of e.thresholds) {
      const li = document.createElement('li'); li.className = t.ok ? 'ok' : 'crossed';
      li.textContent = (t.ok ? '✓ ' : '✗ crossed: ') + t.metric + ': ' + t.expression + (t.observed !== null ? '  (now ' + fmt(t.observed, 3) + ')' : '');
      th.appendChild(li);
    }
    if (!e.thresholds.length) { const li = document.createElement('li'); li.className = 'muted'; li.textContent = 'none in this run'; th.appendChild(li); }
    rows($('endpoints'), e.endpoints, (r) => [r.method, r.name, fmt(r.requests), fmt(r.failures), fmt(r.med, 2), fmt(r.p95, 2), fmt(r.p99, 2), fmt(r.avg, 2), fmt(r.min, 2), fmt(r.max, 2), fmt(r.avg_size), fmt(r.rps, 1), fmt(r.fps, 2)]);
    rows($('kinds'), Object.entries(e.failure_kinds), ([k, n]) => [k, fmt(n)]);
    rows($('statuses'), Object.entries(e.statuses), ([k, n]) => [k, fmt(n)]);
    rows($('checks'), e.checks, (c) => [c.name, fmt(c.passes) + ' ✓', fmt(c.fails) + ' ✗']);
    rows($('server'), e.server, (s) => [s.label, fmt(s.cpu_pct, 1), bytes(s.mem_bytes)]);
    if (e.sweep) {
      $('sweep').hidden = false;
      $('sweep-note').textContent = (e.sweep.current ? 'now: ' + e.sweep.current + ' instance(s). ' : '') + (e.sweep.note || '');
      rows($('sweep-rows'), e.sweep.runs, (r) => [r.instances, r.repeat, fmt(r.rps, 1), fmt(r.p95_ms, 1), fmt(r.failures), r.capacity_rps === null || r.capacity_rps === undefined ? '—' : fmt(r.capacity_rps, 1)]);
    }
    if (e.capacity) {
      const c = e.capacity;
      $('capacity').hidden = false;
      $('capacity-note').textContent = c.capacity_rps !== null && c.capacity_rps !== undefined
        ? 'capacity: ' + fmt(c.capacity_rps, 1) + ' req/s' + (c.upper_rps ? ' (bad at ' + fmt(c.upper_rps, 1) + ' req/s)' : '')
        : (c.note || '');
      steps = c.steps;
      rows($('capacity-rows'), c.steps, (r) => [r.index, r.phase, fmt(r.offered_rps, 1), fmt(r.achieved_rps, 1), fmt(r.p95_ms, 1), fmt(r.error_rate * 100, 2) + ' %', r.verdict]);
    }
    draw();
    if (e.phase === 'ended' || e.phase === 'interrupted') {
      $('stop').disabled = true;
      if (e.report_html && !reportUrl) showReport(e.report_html);
      else if (e.report && !reportUrl) fetchReport();
    }
  }

  // Keeps the report in the page (a blob), so it stays available after volley exits.
  function showReport(html) {
    reportUrl = URL.createObjectURL(new Blob([html], { type: 'text/html' }));
    const a = $('report'); a.href = reportUrl; a.target = '_blank'; a.download = 'volley-report.html'; a.hidden = false;
  }
  function fetchReport() {
    reportUrl = 'pending';
    fetch(withToken('/report')).then((r) => r.ok ? r.text() : Promise.reject(r.status)).then(showReport).catch(() => { reportUrl = null; });
  }

  $('stop').addEventListener('click', () => {
    $('stop').disabled = true;
    fetch(withToken('/api/stop'), { method: 'POST' }).catch(() => { $('stop').disabled = false; });
  });

  const es = new EventSource(withToken('/events'));
  es.addEventListener('update', (m) => update(JSON.parse(m.data)));
  es.onerror = () => { if ($('phase').textContent === 'ended' || $('phase').textContent === 'interrupted') es.close(); };
  window.addEventListener('resize', draw);
})();
