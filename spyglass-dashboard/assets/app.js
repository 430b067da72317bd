// Spyglass dashboard: renders the live updates of /_spyglass/api/stream. No dependencies besides
// the vendored uPlot; every string from the server is inserted as text, never as HTML.
(function () {
  "use strict";
  var BASE = "/_spyglass";
  // Waits before reopening a stream the browser gave up on: doubling from the first to the last.
  var RETRY_FIRST_MS = 1000, RETRY_MAX_MS = 30000;
  var state = {
    window: 900,
    // The longest window the server keeps (from the updates); the page offers none longer.
    maxWindow: null,
    // The page's own window choices (the buttons of index.html), read once.
    windowChoices: null,
    es: null,
    retryMs: 0,
    retryTimer: null,
    // Bumped by each openTrace: a reply to an earlier one is dropped.
    traceRequest: 0,
    charts: {},
    // The y-axis labels each chart drew last.
    ticks: {},
    errors: [],
    // The request shown in the detail view: its trace id and root span id ("trace/span").
    selected: null,
    traceView: "recent",
    last: null,
    sort: {
      routes: { key: "count", asc: false },
      fns: { key: "count", asc: false },
      queries: { key: "count", asc: false },
    },
  };

  // ---------- formatting ----------
  // Each formatter picks its unit after rounding, so a figure never reads as 1000 of one unit
  // (0.9996 ms is "1.00 ms", not "1000 µs"; 999999 is "1.0M", not "1000.0k").
  // `v` with three significant digits from 1 up (304, 30.4, 3.04; 99.96 → 100, not 100.0), and two
  // decimals below.
  function sig3(v) {
    var d = v >= 100 ? 0 : v >= 10 ? 1 : 2;
    var s = v.toFixed(d);
    return d > 0 && +s >= Math.pow(10, 3 - d) ? v.toFixed(d - 1) : s;
  }
  // A duration given in ms: "304 ns", "3.04 µs", "950 µs", "1.00 ms", "30.4 ms", "1.20 s".
  var DURATION_UNITS = [[1e-6, " ns"], [1e-3, " µs"], [1, " ms"]];
  function fmtMs(v) {
    if (v == null || isNaN(v)) return "–";
    if (v === 0) return "0 ms";
    for (var i = 0; i < DURATION_UNITS.length; i++) {
      var s = sig3(v / DURATION_UNITS[i][0]);
      if (+s < 1000) return s + DURATION_UNITS[i][1];
    }
    return (v / 1000).toFixed(2) + " s";
  }
  // A count: "9999", "10.0k", "1.0M", "1.0G".
  function fmtNum(v) {
    if (v == null) return "–";
    if (v < 1e4) return String(v);
    var k = (v / 1e3).toFixed(1), m = (v / 1e6).toFixed(1);
    return +k < 1000 ? k + "k" : +m < 1000 ? m + "M" : (v / 1e9).toFixed(1) + "G";
  }
  // Requests per second: as sig3, whole from 1000 up, and two significant digits below 0.1 (a few
  // requests over a long window: 0.0033, not 0.00).
  function fmtRate(v) {
    if (v == null || isNaN(v)) return "–";
    if (v > 0 && v < 0.1) return v.toFixed(1 - Math.floor(Math.log10(v)));
    return v >= 1000 ? v.toFixed(0) : sig3(v);
  }
  // A fraction as a percentage: "0%", "<0.1%", "2.5%", ">99.9%", "100%" (only when every one).
  function fmtPct(v) {
    if (v == null || isNaN(v)) return "–";
    var p = v * 100;
    if (p === 0 || p === 100) return p + "%";
    if (p < 0.1) return "<0.1%";
    if (p > 99.9 && p < 100) return ">99.9%";
    return p.toFixed(1) + "%";
  }
  // A size: "1023 B", "1.5 KiB", "1.0 MiB" (1048575 bytes, not "1024.0 KiB"), "2.0 GiB".
  var BYTE_UNITS = [[1 << 10, " KiB"], [1 << 20, " MiB"], [1 << 30, " GiB"]];
  function fmtBytes(v) {
    if (v == null) return "–";
    if (v < 1024) return v + " B";
    for (var i = 0; i < BYTE_UNITS.length - 1; i++) {
      var s = (v / BYTE_UNITS[i][0]).toFixed(1);
      if (+s < 1024) return s + BYTE_UNITS[i][1];
    }
    return (v / (1 << 30)).toFixed(1) + " GiB";
  }
  function fmtTime(ms) {
    var d = new Date(ms);
    return d.toLocaleTimeString([], { hour12: false });
  }

  // ---------- DOM helpers ----------
  function $(id) {
    return document.getElementById(id);
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function setText(id, t, bad) {
    var e = $(id);
    e.textContent = t;
    e.classList.toggle("bad", !!bad);
  }

  // ---------- charts ----------
  // The decimals that show every multiple of `incr` exactly: uPlot steps its ticks by 1, 2, 2.5 or
  // 5 times a power of ten, so 5 → 0, 0.5 → 1, 0.25 → 2, 0.02 → 2.
  function decimalsOf(incr) {
    if (!(incr > 0) || !isFinite(incr)) return 0;
    for (var d = 0; d < 12; d++) {
      var scaled = incr * Math.pow(10, d);
      if (Math.abs(scaled - Math.round(scaled)) <= scaled * 1e-9) return d;
    }
    return 12;
  }
  // `splits` (tick values) divided by `div`, with the decimals of the step between them: no two
  // ticks print alike, and none is rounded to a value it is not.
  function tickLabels(splits, incr, div, suffix) {
    var d = decimalsOf(incr / div);
    return splits.map(function (v) { return v == null ? "" : (v / div).toFixed(d) + suffix; });
  }
  // The y-axis labels of each chart, from its ticks and their step (uPlot's `axis.values(u,
  // splits, axisIdx, space, incr)`): req/s; error % of requests; latency in ms, or in s (all the
  // ticks, so the axis reads in one unit) once a tick reaches a second.
  var axisLabels = {
    rate: function (splits, incr) { return tickLabels(splits, incr, 1, ""); },
    pct: function (splits, incr) { return tickLabels(splits, incr, 1, "%"); },
    ms: function (splits, incr) {
      var top = Math.max.apply(null, splits.filter(function (v) { return v != null; }).concat([0]));
      return top >= 1000 ? tickLabels(splits, incr, 1000, "s") : tickLabels(splits, incr, 1, "");
    },
  };
  function chartOpts(el, series, ylabels) {
    var axis = {
      stroke: "#7d8a9a",
      grid: { stroke: "#222b36", width: 1 },
      ticks: { stroke: "#222b36", width: 1 },
      font: "11px sans-serif",
    };
    return {
      width: Math.max(el.clientWidth, 200),
      height: 190,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      axes: [axis, Object.assign({}, axis, {
        size: 50,
        values: function (u, splits, axisIdx, space, incr) {
          var labels = ylabels(splits, incr);
          state.ticks[el.id] = labels;
          return labels;
        },
      })],
      series: [{}].concat(series),
      legend: { live: true },
    };
  }
  function makeChart(id, series, ylabels) {
    var target = $(id);
    var data = [[]].concat(series.map(function () { return []; }));
    var u = new uPlot(chartOpts(target, series, ylabels), data, target);
    state.charts[id] = u;
    return u;
  }
  // The indexes from..to of `ys` whose value stands alone between gaps (nulls or the ends): a line
  // that does not span gaps draws nothing for them, so they are drawn as points.
  function isolated(ys, from, to) {
    var out = [];
    for (var i = from; i <= to; i++) {
      if (ys[i] != null && (i === 0 || ys[i - 1] == null) && (i === ys.length - 1 || ys[i + 1] == null)) out.push(i);
    }
    return out;
  }
  // A series of a chart. `gaps`: break the line at empty buckets (null: no request, so no latency
  // or error share) rather than join the points across them.
  function line(label, color, fill, fmt, gaps) {
    return {
      label: label,
      stroke: color,
      width: 1.5,
      fill: fill || undefined,
      spanGaps: !gaps,
      points: {
        // uPlot hides the points once they are dense: still show those with no neighbour.
        filter: function (u, i, shown) {
          if (shown || !gaps) return null;
          var ids = isolated(u.data[i], u.series[i].idxs[0], u.series[i].idxs[1]);
          return ids.length ? ids : null;
        },
      },
      value: function (u, v) { return v == null ? "–" : fmt(v); },
    };
  }
  function fmtPctOf100(v) { return fmtPct(v / 100); }
  function initCharts() {
    makeChart("chart-rps", [line("req/s", "#4ea1ff", "rgba(78,161,255,0.12)", fmtRate),
      line("errors/s", "#f85149", null, fmtRate)], axisLabels.rate);
    makeChart("chart-err", [line("error %", "#f85149", "rgba(248,81,73,0.12)", fmtPctOf100, true)], axisLabels.pct);
    makeChart("chart-lat", [line("p50", "#4ea1ff", null, fmtMs, true), line("p95", "#d29922", null, fmtMs, true),
      line("p99", "#f85149", null, fmtMs, true)], axisLabels.ms);
    window.addEventListener("resize", function () {
      Object.keys(state.charts).forEach(function (id) {
        var c = state.charts[id];
        c.setSize({ width: Math.max($(id).clientWidth, 200), height: 190 });
      });
    });
  }
  function renderCharts(ts) {
    var pts = ts.overall || [];
    // Skip the empty buckets before the first request (a young process), keeping at least 6 points.
    var first = 0;
    while (first < pts.length - 6 && pts[first].count === 0) first++;
    pts = pts.slice(first);
    var x = [], rps = [], eps = [], err = [], p50 = [], p95 = [], p99 = [];
    pts.forEach(function (p) {
      x.push(p.ts_ms / 1000);
      // The server's rate: it divides a bucket still filling, or the one the process started in, by
      // the time it covered. Errors per second over that same time.
      var has = p.count > 0;
      rps.push(p.rps || 0);
      eps.push(has ? (p.errors * (p.rps || 0)) / p.count : 0);
      err.push(has ? (p.errors / p.count) * 100 : null);
      p50.push(has ? p.p50_ms : null);
      p95.push(has ? p.p95_ms : null);
      p99.push(has ? p.p99_ms : null);
    });
    state.charts["chart-rps"].setData([x, rps, eps]);
    state.charts["chart-err"].setData([x, err]);
    state.charts["chart-lat"].setData([x, p50, p95, p99]);
    state.points = x.length;
  }

  // ---------- tables ----------
  function sortRows(rows, s) {
    var k = s.key;
    return rows.slice().sort(function (a, b) {
      var x = a[k], y = b[k];
      var c = typeof x === "string" ? String(x).localeCompare(String(y)) : (x || 0) - (y || 0);
      return s.asc ? c : -c;
    });
  }
  function renderTable(id, cols, rows, emptyText) {
    var t = $(id);
    var s = state.sort[id];
    t.textContent = "";
    var thead = el("thead"), hr = el("tr");
    cols.forEach(function (c) {
      var th = el("th", c.left ? "l" : "", c.title);
      if (s) {
        if (s.key === c.key) th.className += " sorted" + (s.asc ? " asc" : "");
        th.addEventListener("click", function () {
          if (s.key === c.key) s.asc = !s.asc;
          else { s.key = c.key; s.asc = !!c.left; }
          if (state.last) render(state.last);
        });
      }
      hr.appendChild(th);
    });
    thead.appendChild(hr);
    t.appendChild(thead);
    var tb = el("tbody");
    var list = s ? sortRows(rows, s) : rows;
    if (!list.length) {
      var tr = el("tr"), td = el("td", "empty", emptyText);
      td.colSpan = cols.length;
      tr.appendChild(td);
      tb.appendChild(tr);
    }
    list.forEach(function (r) {
      var tr = el("tr");
      cols.forEach(function (c) {
        var td = el("td", c.left ? "l" : "");
        if (c.cls) td.className += " " + c.cls;
        var v = c.render ? c.render(r, td) : r[c.key];
        if (v instanceof Node) td.appendChild(v);
        else if (v != null) td.textContent = v;
        tr.appendChild(td);
      });
      if (c0onRow[id]) c0onRow[id](tr, r);
      tb.appendChild(tr);
    });
    t.appendChild(tb);
  }
  var c0onRow = {};

  function methodRoute(r) {
    var span = el("span");
    span.appendChild(el("span", "method", r.method));
    span.appendChild(el("span", "mono", r.route));
    return span;
  }

  function renderRoutes(reqs) {
    $("routes-n").textContent = reqs.length + (reqs.length === 1 ? " route" : " routes");
    renderTable("routes", [
      { key: "route", title: "Route", left: true, render: methodRoute },
      { key: "count", title: "Requests", render: function (r) { return fmtNum(r.count); } },
      { key: "rps", title: "req/s", render: function (r) { return fmtRate(r.rps); } },
      { key: "errors", title: "Errors", render: function (r, td) { if (r.errors) td.classList.add("bad"); return fmtNum(r.errors); } },
      { key: "error_rate", title: "Error %", render: function (r, td) { if (r.error_rate > 0.01) td.classList.add("bad"); return fmtPct(r.error_rate); } },
      { key: "p50_ms", title: "p50", render: function (r) { return fmtMs(r.p50_ms); } },
      { key: "p95_ms", title: "p95", render: function (r) { return fmtMs(r.p95_ms); } },
      { key: "p99_ms", title: "p99", render: function (r) { return fmtMs(r.p99_ms); } },
      { key: "max_ms", title: "max", render: function (r) { return fmtMs(r.max_ms); } },
      { key: "bytes_in", title: "In", render: function (r) { return fmtBytes(r.bytes_in); } },
      { key: "bytes_out", title: "Out", render: function (r) { return fmtBytes(r.bytes_out); } },
    ], reqs, "No requests in this window yet.");
  }

  function renderFunctions(fns) {
    $("fns-n").textContent = fns.length ? fns.length + "" : "";
    renderTable("fns", [
      { key: "name", title: "Function", left: true, render: function (r) {
        var s = el("span");
        s.appendChild(el("span", "mono", r.name));
        if (r.module) s.appendChild(el("span", "muted", "  " + r.module));
        return s;
      } },
      { key: "count", title: "Calls", render: function (r) { return fmtNum(r.count); } },
      { key: "errors", title: "Errors", render: function (r, td) { if (r.errors) td.classList.add("bad"); return fmtNum(r.errors); } },
      { key: "p50_ms", title: "p50", render: function (r) { return fmtMs(r.p50_ms); } },
      { key: "p95_ms", title: "p95", render: function (r) { return fmtMs(r.p95_ms); } },
      { key: "p99_ms", title: "p99", render: function (r) { return fmtMs(r.p99_ms); } },
      { key: "max_ms", title: "max", render: function (r) { return fmtMs(r.max_ms); } },
    ], fns, "No #[spyglass::instrument]ed calls in this window.");
  }

  function renderQueries(qs, nplus1) {
    $("queries-n").textContent = qs.length ? qs.length + "" : "";
    renderTable("queries", [
      { key: "statement", title: "Statement", left: true, cls: "mono wrap", render: function (r) { return r.statement; } },
      { key: "count", title: "Count", render: function (r) { return fmtNum(r.count); } },
      { key: "rows", title: "Rows", render: function (r) { return fmtNum(r.rows); } },
      { key: "p50_ms", title: "p50", render: function (r) { return fmtMs(r.p50_ms); } },
      { key: "p95_ms", title: "p95", render: function (r) { return fmtMs(r.p95_ms); } },
      { key: "p99_ms", title: "p99", render: function (r) { return fmtMs(r.p99_ms); } },
      { key: "slow", title: "Slow", render: function (r, td) { if (r.slow) td.classList.add("warn"); return fmtNum(r.slow); } },
    ], qs, "No queries in this window (instrument sqlx or diesel to see them).");
    var box = $("nplus1");
    box.textContent = "";
    if (!Array.isArray(nplus1) || !nplus1.length) {
      box.className = "nplus1 muted";
      box.textContent = Array.isArray(nplus1) ? "None detected: no statement repeated in one request." : "Not reported by this server.";
      return;
    }
    box.className = "nplus1";
    nplus1.slice(0, 20).forEach(function (n) {
      var item = el("div", "item");
      item.appendChild(el("div", "mono", n.statement || ""));
      var meta = el("div", "muted");
      var where = (n.method ? n.method + " " : "") + (n.route || "");
      meta.appendChild(document.createTextNode(
        "in " + where + " · " + n.count + "× in one request (" + fmtMs(n.total_ms) + ")" +
        " · seen in " + n.occurrences + (n.occurrences === 1 ? " request" : " requests") + " since start · "));
      if (n.trace_id) {
        var a = el("a", "mono", "latest trace");
        a.href = "#";
        a.addEventListener("click", function (ev) { ev.preventDefault(); openTrace(n.trace_id, n.span_id); });
        meta.appendChild(a);
      }
      item.appendChild(meta);
      box.appendChild(item);
    });
  }

  // A request's labels (set by the middleware's hooks) as `key=value …`, or "" when it has none.
  function labelText(labels) {
    if (!labels || typeof labels !== "object") return "";
    return Object.keys(labels).map(function (k) { return k + "=" + labels[k]; }).join(" ");
  }

  function renderErrors() {
    var rows = state.errors.slice(0, 50);
    renderTable("errors", [
      { key: "ts", title: "Time", left: true, render: function (r) { return fmtTime((r.ts_ns + r.dur_ns) / 1e6); } },
      { key: "label", title: "Where", left: true, cls: "mono wrap", render: function (r) {
        var labels = labelText(r.labels);
        if (!labels) return r.label;
        var box = el("div", "", r.label);
        box.appendChild(el("div", "muted", labels));
        return box;
      } },
      { key: "message", title: "Error", left: true, cls: "wrap bad", render: function (r) { return r.message || "failed"; } },
      { key: "trace_id", title: "Trace", left: true, cls: "mono", render: function (r) {
        var a = el("a", "", r.trace_id.slice(0, 12) + "…");
        a.href = "#";
        a.title = r.trace_id;
        // The error's own span finds its request among others of the same trace.
        a.addEventListener("click", function (ev) { ev.preventDefault(); openTrace(r.trace_id, r.span_id); });
        return a;
      } },
    ], rows, "No errors. ");
  }

  function renderCollector(c) {
    var box = $("collector");
    box.textContent = "";
    function metric(k, v, cls, fill) {
      var m = el("div", "m");
      m.appendChild(el("div", "k", k));
      m.appendChild(el("div", "v " + (cls || ""), v));
      if (fill != null) {
        var bar = el("div", "bar"), f = el("div");
        f.style.width = Math.min(100, fill * 100).toFixed(1) + "%";
        if (fill > 0.8) f.style.background = "#f85149";
        else if (fill > 0.5) f.style.background = "#d29922";
        bar.appendChild(f);
        m.appendChild(bar);
      }
      box.appendChild(m);
    }
    metric("Queue depth", c.queue_depth + " / " + c.queue_capacity, "", c.queue_capacity ? c.queue_depth / c.queue_capacity : 0);
    metric("Emitted", fmtNum(c.emitted));
    metric("Exported", fmtNum(c.exported));
    metric("Dropped", fmtNum(c.dropped), c.dropped ? "bad" : "");
    metric("Export errors", fmtNum(c.export_errors), c.export_errors ? "bad" : "");
    metric("Health", c.dropped || c.export_errors ? "degraded" : "ok", c.dropped || c.export_errors ? "warn" : "");
  }

  function filterTraces(traces) {
    var list = (traces || []).slice();
    if (state.traceView === "slow") list.sort(function (a, b) { return b.dur_ms - a.dur_ms; });
    else if (state.traceView === "failed") list = list.filter(function (t) { return t.error; });
    else list.sort(function (a, b) { return b.ts_ms - a.ts_ms; });
    return list;
  }

  function renderTraces(traces) {
    traces = filterTraces(traces);
    c0onRow.traces = function (tr, r) {
      tr.dataset.traceId = r.trace_id;
      if (r.span_id) tr.dataset.spanId = r.span_id;
      if (traceKey(r.trace_id, r.span_id) === state.selected) tr.classList.add("sel");
      tr.addEventListener("click", function () { openTrace(r.trace_id, r.span_id); });
    };
    renderTable("traces", [
      { key: "label", title: "Request", left: true, cls: "mono", render: function (r) { return r.label; } },
      { key: "status", title: "Status", render: function (r) {
        var cls = r.status >= 500 || (r.status == null && r.error) ? "err" : r.status >= 400 ? "warn" : "ok";
        var b = el("span", "badge " + cls, r.status != null ? String(r.status) : r.error ? "error" : "ok");
        if (r.error && r.status < 500) b.title = "a function or query in this request failed";
        return b;
      } },
      { key: "dur_ms", title: "Duration", render: function (r) { return fmtMs(r.dur_ms); } },
      { key: "spans", title: "Spans", render: function (r) { return String(r.spans); } },
      { key: "ts_ms", title: "At", render: function (r) { return fmtTime(r.ts_ms); } },
    ], traces || [], "No requests recorded yet.");
  }

  function traceKey(id, span) {
    return span ? id + "/" + span : id;
  }

  // Shows one request of trace `id`: the one whose root span (or a span under it) is `span`.
  // Several requests of the service can share a trace id (an upstream service calling it twice,
  // retries): the trace id alone could show another one than the one clicked.
  function openTrace(id, span) {
    state.selected = traceKey(id, span);
    var request = ++state.traceRequest;
    // Replies can come back out of order: only the latest click's is shown.
    function show(t) { if (request === state.traceRequest) renderWaterfall(t, id); }
    var url = BASE + "/api/traces/" + encodeURIComponent(id) + (span ? "?span=" + encodeURIComponent(span) : "");
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(show)
      .catch(function () { show(null); });
    if (state.last) renderTraces(state.last.traces);
  }

  function renderWaterfall(t, id) {
    var box = $("waterfall");
    box.textContent = "";
    if (!t) {
      box.className = "waterfall muted";
      box.textContent = "Trace " + id + " is no longer kept.";
      return;
    }
    box.className = "waterfall";
    var all = [t.root].concat(t.spans);
    var total = 0;
    all.forEach(function (e) { total = Math.max(total, e.offset_ms + e.dur_ms); });
    total = total || 1;
    var head = el("div", "wf-head");
    head.appendChild(el("span", "mono", t.root.label));
    head.appendChild(el("span", "muted", "  ·  " + fmtMs(t.root.dur_ms) + "  ·  trace " + t.trace_id));
    var labels = labelText(t.root.labels);
    if (labels) head.appendChild(el("span", "mono", "  ·  " + labels));
    box.appendChild(head);
    // Depth from the parent links, so nested calls are indented under their caller.
    var depth = {};
    depth[t.root.span_id] = 0;
    all.forEach(function (e) {
      if (e !== t.root) depth[e.span_id] = (depth[e.parent_span_id] != null ? depth[e.parent_span_id] : 0) + 1;
    });
    all.forEach(function (e) {
      var row = el("div", "wf-row");
      var lab = el("div", "wf-label");
      lab.style.paddingLeft = (depth[e.span_id] || 0) * 14 + "px";
      lab.appendChild(el("span", "kind", e.kind));
      lab.appendChild(el("span", "mono", e.label));
      lab.title = e.label + (e.message ? " — " + e.message : "");
      var track = el("div", "wf-track");
      var bar = el("div", "wf-bar " + e.kind + (e.is_error ? " err" : ""));
      bar.style.left = ((e.offset_ms / total) * 100).toFixed(2) + "%";
      bar.style.width = Math.max((e.dur_ms / total) * 100, 0.3).toFixed(2) + "%";
      track.appendChild(bar);
      row.appendChild(lab);
      row.appendChild(track);
      row.appendChild(el("div", "wf-dur" + (e.is_error ? " bad" : ""), fmtMs(e.dur_ms)));
      box.appendChild(row);
      if (e.message && e.is_error) {
        var m = el("div", "bad wrap");
        m.style.padding = "2px 0 4px " + ((depth[e.span_id] || 0) * 14 + 22) + "px";
        m.textContent = e.message;
        box.appendChild(m);
      }
    });
  }

  // ---------- KPIs ----------
  // The service as a whole: the server's figures over every request of the window (percentiles of
  // all requests, which no mix of the routes' own percentiles gives).
  function renderKpis(stats) {
    var o = stats.overall || {};
    var count = o.count || 0;
    setText("kpi-rps", count ? fmtRate(o.rps) + " req/s" : "–");
    setText("kpi-count", fmtNum(count));
    setText("kpi-err", count ? fmtPct(o.error_rate) : "–", count && o.error_rate > 0.01);
    setText("kpi-p50", count ? fmtMs(o.p50_ms) : "–");
    setText("kpi-p95", count ? fmtMs(o.p95_ms) : "–");
    setText("kpi-p99", count ? fmtMs(o.p99_ms) : "–");
    ["p50", "p95", "p99"].forEach(function (p) {
      $("kpi-" + p).title = p + " of every request in the window";
    });
  }

  // ---------- updates ----------
  // "1 min", "5 min", "90 s": a window's length.
  function fmtWindow(secs) {
    return secs % 60 === 0 ? secs / 60 + " min" : secs + " s";
  }

  // Offers only the windows the server keeps: the page's choices up to its longest, and that
  // longest itself when it is none of them. The window shown is at most the longest.
  function offerWindows(max) {
    if (!(max > 0) || max === state.maxWindow) return;
    state.maxWindow = max;
    var nav = $("window");
    if (!state.windowChoices) {
      state.windowChoices = Array.prototype.map.call(nav.querySelectorAll("button"), function (b) {
        return +b.dataset.w;
      });
    }
    var offered = state.windowChoices.filter(function (w) { return w <= max; });
    if (offered.indexOf(max) < 0) offered.push(max);
    nav.textContent = "";
    offered.forEach(function (w) {
      var b = el("button", "", fmtWindow(w));
      b.dataset.w = String(w);
      nav.appendChild(b);
    });
    if (state.window > max) state.window = max;
    markWindow();
  }

  function markWindow() {
    Array.prototype.forEach.call($("window").querySelectorAll("button"), function (x) {
      x.classList.toggle("on", +x.dataset.w === state.window);
    });
  }

  function render(u) {
    state.last = u;
    offerWindows(u.max_window_secs);
    var s = u.stats;
    $("service").textContent = s.service;
    document.title = "Spyglass · " + s.service;
    renderKpis(s);
    renderCharts(u.timeseries);
    renderRoutes(s.requests || []);
    renderFunctions(s.functions || []);
    renderQueries(s.queries || [], s.n_plus_one);
    renderCollector(s.collector || {});
    renderErrors();
    renderTraces(u.traces);
    document.body.dataset.updates = String((+document.body.dataset.updates || 0) + 1);
  }

  function onUpdate(ev) {
    var u;
    try { u = JSON.parse(ev.data); } catch (e) { return; }
    if (u.errors && u.errors.length) {
      var seen = {};
      state.errors.forEach(function (e) { seen[e.span_id] = 1; });
      var fresh = u.errors.filter(function (e) { return !seen[e.span_id]; });
      state.errors = fresh.concat(state.errors).slice(0, 100);
    }
    render(u);
  }

  function connect() {
    clearTimeout(state.retryTimer);
    state.retryTimer = null;
    if (state.es) state.es.close();
    var live = $("live");
    live.className = "live off";
    live.textContent = "connecting";
    var es = new EventSource(BASE + "/api/stream?window=" + state.window);
    state.es = es;
    es.addEventListener("update", function (ev) {
      if (state.es !== es) return;
      state.retryMs = 0;
      live.className = "live on";
      live.textContent = "live";
      onUpdate(ev);
    });
    es.onerror = function () {
      if (state.es !== es) return;
      live.className = "live off";
      live.textContent = "reconnecting";
      // After a network error the browser reconnects by itself; after an answer other than a
      // 200 stream (a proxy's 502 while the app restarts, a 403 once a token changed) it gives up
      // for good. Then open a new stream ourselves, waiting longer after each failure.
      if (es.readyState !== EventSource.CLOSED) return;
      es.close();
      state.es = null;
      state.retryMs = Math.min(RETRY_MAX_MS, state.retryMs ? state.retryMs * 2 : RETRY_FIRST_MS);
      live.textContent = "reconnecting in " + Math.round(state.retryMs / 1000) + " s";
      state.retryTimer = setTimeout(connect, state.retryMs);
    };
  }

  function loadErrors() {
    return fetch(BASE + "/api/errors?limit=50", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (list) { state.errors = list; })
      .catch(function () {});
  }

  function init() {
    initCharts();
    var tv = $("trace-view");
    tv.addEventListener("click", function (ev) {
      var b = ev.target.closest("button");
      if (!b) return;
      state.traceView = b.dataset.v;
      Array.prototype.forEach.call(tv.querySelectorAll("button"), function (x) {
        x.classList.toggle("on", x === b);
      });
      if (state.last) renderTraces(state.last.traces);
    });
    var nav = $("window");
    nav.addEventListener("click", function (ev) {
      var b = ev.target.closest("button");
      if (!b) return;
      state.window = +b.dataset.w;
      markWindow();
      state.retryMs = 0;
      connect();
    });
    loadErrors().then(connect);
  }

  // A read-only handle for debugging in the browser console (and the browser check).
  window.spyglassDashboard = {
    chartData: function (id) { return state.charts[id] ? state.charts[id].data : null; },
    updates: function () { return +document.body.dataset.updates || 0; },
    // The y-axis labels a chart drew last, and the labeller of each chart as a pure function of
    // the ticks and their step: axisLabels("ms", [0, 0.5, 1, 1.5], 0.5).
    ticks: function (id) { return state.ticks[id] ? state.ticks[id].slice() : null; },
    axisLabels: function (kind, splits, incr) { return axisLabels[kind](splits, incr); },
    // The formatters of the tiles, tables and legends: fmtMs(0.0003) is "300 ns".
    fmtMs: fmtMs,
    fmtNum: fmtNum,
    fmtRate: fmtRate,
    fmtPct: fmtPct,
    fmtBytes: fmtBytes,
    // A chart's series (after the x axis): their labels and whether their lines span empty buckets.
    series: function (id) {
      var c = state.charts[id];
      return c ? c.series.slice(1).map(function (s) { return { label: s.label, spanGaps: !!s.spanGaps }; }) : null;
    },
    // The points a gapped series draws on their own: isolated([null, 1, null], 0, 2) is [1].
    isolated: function (ys, from, to) { return isolated(ys, from, to); },
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
