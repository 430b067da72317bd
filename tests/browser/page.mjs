// The dashboard page's own behaviour in headless Chromium, against spyglass-axum's check_server
// example (the dashboard of an instance whose stats window is SECS long, behind SpyglassLayer, with
// the synthetic traffic its docs describe):
//   node page.mjs <dashboard-url> <window-secs>
// Run by scripts/check.d/32-browser-page.sh. Fails (exit 1) unless:
//   - the page is live although the instance keeps less than the page's 15-minute default, and
//     offers no window longer than the instance keeps (only the choices up to it, and it);
//   - the p50/p95/p99 tiles show the service's percentiles over every request (p95 ~1 ms, p99
//     ~100 ms), not the slowest route's p95 (~100 ms);
//   - a stream answered with a 502 (a proxy while the app restarts) is retried until it is live;
//   - of two trace clicks whose replies come back in the opposite order, the waterfall shows the
//     second one clicked; each click asks for its row's request by trace id and root span id
//     (`/api/traces/{trace_id}?span={span_id}`: several requests can share a trace id);
//   - the charts' y-axis labels have the decimals of their ticks' step (latency ticks 0.5 ms apart
//     read 1.0, 1.5, 2.0, not 1, 2, 2; error-rate ticks 0.02% apart read 0.02%, not 0.0%), and no
//     chart draws two ticks alike;
//   - the formatters choose their unit after rounding and keep small figures readable (fmtMs(0.0003)
//     is "300 ns", fmtMs(0.9996) "1.00 ms", fmtRate(0.0033) "0.0033", fmtPct(0.99999) ">99.9%",
//     fmtNum(999999) "1.0M", fmtBytes(1048575) "1.0 MiB"), and a made-up update (a stream the check
//     answers itself) shows them in the tiles and tables, charts the server's per-point `rps` (not
//     count / bucket width), breaks the latency and error-% lines at empty buckets (spanGaps false;
//     throughput spans them) and says the N+1 panel's occurrence count is since start;
//   - choosing another window keeps the page live;
// and no console error or HTTP error occurred other than the 502s the check itself answered.
import { launchChromium } from "./launch.mjs";

const [url, windowArg] = process.argv.slice(2);
const windowSecs = Number(windowArg);
if (!url || !(windowSecs > 0)) {
  console.error("usage: node page.mjs <dashboard-url> <window-secs>");
  process.exit(2);
}
const CHOICES = [60, 300, 900];
const fmtWindow = (s) => (s % 60 === 0 ? s / 60 + " min" : s + " s");
const wantWindows = CHOICES.filter((w) => w <= windowSecs);
if (!wantWindows.includes(windowSecs)) wantWindows.push(windowSecs);

const problems = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// A duration as the page prints it ("300 ns", "950 µs", "1.02 ms", "100 ms", "1.20 s"), in ms.
const parseMs = (t) => {
  const m = /^([\d.]+) (ns|µs|ms|s)$/.exec(t.trim());
  if (!m) throw new Error(`not a duration: '${t}'`);
  return Number(m[1]) * { ns: 1e-6, "µs": 1e-3, ms: 1, s: 1e3 }[m[2]];
};

const { ctx, close } = await launchChromium();
// The 502s answered on purpose, and the console lines Chromium writes about them.
let refusing = false;
function watch(page) {
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (refusing && /502|EventSource/.test(m.text())) return;
    problems.push("console error: " + m.text());
  });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("response", (r) => {
    if (r.status() >= 400 && !(r.status() === 502 && refusing)) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
}
const updates = (page) => page.evaluate(() => window.spyglassDashboard.updates());
async function moreUpdates(page, n, timeout = 15_000) {
  const before = await updates(page);
  await page.waitForFunction((m) => window.spyglassDashboard.updates() >= m, before + n, { timeout });
}

let ok = false;
try {
  const page = ctx.pages()[0] || (await ctx.newPage());
  watch(page);

  // 1. Live with a window shorter than the page's default, offering only the windows kept.
  await page.goto(url, { waitUntil: "load", timeout: 30_000 });
  await page.waitForFunction(() => window.spyglassDashboard.updates() >= 2, null, { timeout: 20_000 })
    .catch(() => { throw new Error(`no live update: is the page's stream refused (window ${windowSecs} s)?`); });
  const offered = await page.$$eval("#window button", (bs) => bs.map((b) => [b.textContent, b.classList.contains("on")]));
  const want = wantWindows.map((w) => [fmtWindow(w), w === Math.min(900, windowSecs)]);
  if (JSON.stringify(offered) !== JSON.stringify(want)) {
    problems.push(`window choices ${JSON.stringify(offered)}, expected ${JSON.stringify(want)}`);
  }
  if (!/^live$/.test(await page.textContent("#live"))) problems.push("not marked live");

  // 2. The percentile tiles are the service's: wait for enough traffic to hold the 2% slow ones.
  await page.waitForFunction(() => {
    const n = document.getElementById("kpi-count").textContent;
    return /k$/.test(n) || Number(n) >= 400;
  }, null, { timeout: 30_000 });
  await moreUpdates(page, 1);
  const kpi = {};
  for (const k of ["p50", "p95", "p99"]) kpi[k] = parseMs(await page.textContent(`#kpi-${k}`));
  const routeP95 = await page.$$eval("#routes tbody tr", (rows) => rows.map((r) => r.children[6].textContent));
  const worstRouteP95 = Math.max(...routeP95.map(parseMs));
  if (!(kpi.p50 < 5 && kpi.p95 < 5 && kpi.p99 > 50 && worstRouteP95 > 50)) {
    problems.push(`percentile tiles ${JSON.stringify(kpi)} (the slowest route's p95 ${worstRouteP95} ms): ` +
      "expected p50 and p95 ~1 ms and p99 ~100 ms, the service's own");
  }

  // 3. A stream answered with a 502 is retried until live (EventSource alone gives up for good).
  let streams = 0;
  await page.route("**/api/stream**", (route) => {
    streams++;
    if (streams <= 2) return route.fulfill({ status: 502, contentType: "text/plain", body: "bad gateway\n" });
    return route.continue();
  });
  refusing = true;
  await page.reload({ waitUntil: "load" });
  await page.waitForFunction(() => window.spyglassDashboard.updates() >= 2, null, { timeout: 30_000 })
    .catch(() => { throw new Error(`the page did not recover from a 502 on its stream (${streams} stream requests)`); });
  refusing = false;
  if (streams < 3) problems.push(`expected the stream refused twice then served, saw ${streams} stream requests`);
  await page.unroute("**/api/stream**");

  // 4. Two trace clicks whose replies come back out of order: the second one clicked is shown.
  await page.waitForFunction(() => document.querySelectorAll("#traces tbody tr[data-trace-id]").length >= 2,
    null, { timeout: 30_000 });
  const asked = [];
  const spans = {};
  let answered = 0;
  let first = null;
  await page.route("**/api/traces/*", async (route) => {
    const u = new URL(route.request().url());
    const id = u.pathname.split("/").pop();
    asked.push(id);
    spans[id] = u.searchParams.get("span");
    if (id === first) {
      const resp = await route.fetch();
      await sleep(1500);
      await route.fulfill({ response: resp });
    } else {
      await route.continue();
    }
    answered++;
  });
  // Both clicks in one task, so that no update re-renders the list in between.
  const [a, b, spanOf] = await page.evaluate(() => {
    const rows = [...document.querySelectorAll("#traces tbody tr[data-trace-id]")];
    return [rows[0].dataset.traceId, rows[1].dataset.traceId,
      { [rows[0].dataset.traceId]: rows[0].dataset.spanId, [rows[1].dataset.traceId]: rows[1].dataset.spanId }];
  });
  first = a;
  await page.evaluate(([a, b]) => {
    const row = (id) => document.querySelector(`#traces tbody tr[data-trace-id="${id}"]`);
    row(a).click();
    row(b).click();
  }, [a, b]);
  const deadline = Date.now() + 15_000;
  while (answered < 2 && Date.now() < deadline) await sleep(100);
  await sleep(300);
  const head = await page.textContent("#waterfall");
  if (a === b || answered < 2) problems.push(`trace clicks: asked ${JSON.stringify(asked)}, ${answered} answered`);
  else if (!head.includes(b) || head.includes(a)) {
    problems.push(`clicked ${a} then ${b}, whose reply came first: the waterfall shows '${head.slice(0, 160)}'`);
  }
  for (const id of [a, b]) {
    if (!/^[0-9a-f]{16}$/.test(spanOf[id] || "") || spans[id] !== spanOf[id]) {
      problems.push(`trace ${id}: its row's span ${spanOf[id]}, asked with span ${spans[id]}`);
    }
  }
  await page.unroute("**/api/traces/*");

  // 4b. Axis labels: the decimals of the ticks' step, and no two ticks of a chart alike.
  const labelled = await page.evaluate(() => {
    const f = window.spyglassDashboard.axisLabels;
    return {
      lat: f("ms", [0, 0.5, 1, 1.5, 2, 2.5], 0.5),
      latSecs: f("ms", [0, 250, 500, 750, 1000, 1250], 250),
      err: f("pct", [0, 0.02, 0.04], 0.02),
      rps: f("rate", [0, 0.005, 0.01], 0.005),
      drawn: ["chart-rps", "chart-err", "chart-lat"].map((id) => [id, window.spyglassDashboard.ticks(id)]),
    };
  });
  const wantLabels = {
    lat: ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5"],
    latSecs: ["0.00s", "0.25s", "0.50s", "0.75s", "1.00s", "1.25s"],
    err: ["0.00%", "0.02%", "0.04%"],
    rps: ["0.000", "0.005", "0.010"],
  };
  for (const k of Object.keys(wantLabels)) {
    if (JSON.stringify(labelled[k]) !== JSON.stringify(wantLabels[k])) {
      problems.push(`axis labels (${k}): ${JSON.stringify(labelled[k])}, expected ${JSON.stringify(wantLabels[k])}`);
    }
  }
  for (const [id, ticks] of labelled.drawn) {
    const shown = (ticks || []).filter((t) => t !== "");
    if (!shown.length || new Set(shown).size !== shown.length) {
      problems.push(`${id} drew the y-axis labels ${JSON.stringify(ticks)}: none, or two alike`);
    }
  }

  // 4c. The formatters: the unit chosen after rounding, small figures kept readable.
  const formatted = await page.evaluate(() => {
    const d = window.spyglassDashboard;
    const f = (name, vs) => vs.map((v) => [name, v, d[name](v)]);
    return [].concat(
      f("fmtMs", [0.0003, 0.000304, 0.0009996, 0.00304, 0.95, 0.9996, 9.996, 99.96, 999.6, 1234, null]),
      f("fmtRate", [0.0033, 0.012, 0.5, 9.996, 99.96, 250]),
      f("fmtPct", [0, 0.0004, 0.025, 0.999, 0.99999, 1]),
      f("fmtNum", [9999, 10000, 999949, 999999, 999999999]),
      f("fmtBytes", [1023, 1536, 1048575, 1073741823]),
    );
  });
  const wantFormatted = [
    "300 ns", "304 ns", "1.00 µs", "3.04 µs", "950 µs", "1.00 ms", "10.0 ms", "100 ms", "1.00 s", "1.23 s", "–",
    "0.0033", "0.012", "0.50", "10.0", "100", "250",
    "0%", "<0.1%", "2.5%", "99.9%", ">99.9%", "100%",
    "9999", "10.0k", "999.9k", "1.0M", "1.0G",
    "1023 B", "1.5 KiB", "1.0 MiB", "1.0 GiB",
  ];
  formatted.forEach(([name, v, got], i) => {
    if (got !== wantFormatted[i]) problems.push(`${name}(${v}) is ${JSON.stringify(got)}, expected ${JSON.stringify(wantFormatted[i])}`);
  });
  const lone = await page.evaluate(() => window.spyglassDashboard.isolated([null, 1, null, 2, 3, null, 4], 0, 6));
  if (JSON.stringify(lone) !== "[1,6]") problems.push(`isolated points ${JSON.stringify(lone)}, expected [1,6]`);

  // 4d. A made-up update, answered on a stream of the check's own: what the page shows of it.
  const B = 10_000;
  const t0 = Math.floor(Date.now() / B) * B - 5 * B;
  const lat = (p50, p95, p99) => ({ p50_ms: p50, p95_ms: p95, p99_ms: p99, max_ms: p99 });
  const none = { count: 0, errors: 0, rps: 0, ...lat(0, 0, 0) };
  // The first bucket is where the process started (3 requests in its last 4 s), the last is still
  // filling (2 in 4 s): their rates are not count / 10 s.
  const pts = [
    { count: 3, errors: 0, rps: 0.75, ...lat(0.0003, 0.0009, 0.001) },
    none,
    { count: 4, errors: 1, rps: 0.4, ...lat(1, 2, 3) },
    none,
    none,
    { count: 2, errors: 2, rps: 0.5, ...lat(2, 3, 4) },
  ].map((p, i) => ({ ts_ms: t0 + i * B, ...p }));
  const made = {
    max_window_secs: windowSecs,
    stats: {
      service: "made-up-update", window_secs: windowSecs, generated_at_ms: Date.now(),
      overall: { count: 3, errors: 0, error_rate: 0, rps: 0.0033, ...lat(0.0003, 0.9996, 999.6) },
      requests: [{ method: "GET", route: "/made-up", count: 999999, errors: 999900, error_rate: 0.99999, rps: 0.0033,
        ...lat(0.0003, 0.9996, 999.6), bytes_in: 1023, bytes_out: 1048575 }],
      functions: [{ name: "fast_fn", module: "check", count: 3, errors: 0, ...lat(0.000304, 0.0009996, 0.00304) }],
      queries: [],
      n_plus_one: [{ method: "GET", route: "/made-up", statement: "SELECT 1", system: "sqlite", count: 5,
        total_ms: 0.5, occurrences: 7, trace_id: "0123456789abcdef0123456789abcdef", span_id: "0123456789abcdef",
        last_seen_ms: Date.now() }],
      collector: { emitted: 0, exported: 0, dropped: 0, queue_depth: 0, queue_capacity: 2048, export_errors: 0 },
    },
    timeseries: { window_secs: windowSecs, bucket_secs: B / 1000, generated_at_ms: t0 + 5 * B + 4000, overall: pts, routes: [] },
    events: [], errors: [], traces: [],
  };
  await page.route("**/api/stream**", (route) => route.fulfill({
    status: 200, contentType: "text/event-stream",
    body: "retry: 600000\n\nevent: update\ndata: " + JSON.stringify(made) + "\n\n",
  }));
  await page.click("#window button.on");
  await page.waitForFunction(() => document.getElementById("service").textContent === "made-up-update",
    null, { timeout: 10_000 }).catch(() => { throw new Error("the made-up update was not shown"); });
  const shown = await page.evaluate(() => {
    const d = window.spyglassDashboard;
    const text = (id) => document.getElementById(id).textContent;
    const cells = (id) => [...document.querySelectorAll(`#${id} tbody tr:first-child td`)].map((td) => td.textContent);
    return {
      tiles: ["kpi-rps", "kpi-count", "kpi-err", "kpi-p50", "kpi-p95", "kpi-p99"].map(text),
      route: cells("routes").slice(1),
      fn: cells("fns").slice(1),
      nplus1: text("nplus1"),
      rps: d.chartData("chart-rps").slice(1),
      err: d.chartData("chart-err")[1],
      p50: d.chartData("chart-lat")[1],
      series: ["chart-rps", "chart-err", "chart-lat"].map((id) => [id, d.series(id)]),
    };
  });
  await page.unroute("**/api/stream**");
  const wantShown = {
    tiles: ["0.0033 req/s", "3", "0%", "300 ns", "1.00 ms", "1.00 s"],
    route: ["1.0M", "0.0033", "999.9k", ">99.9%", "300 ns", "1.00 ms", "1.00 s", "1.00 s", "1023 B", "1.0 MiB"],
    fn: ["3", "0", "304 ns", "1.00 µs", "3.04 µs", "3.04 µs"],
    // The server's rates, and errors per second over the same time.
    rps: [[0.75, 0, 0.4, 0, 0, 0.5], [0, 0, 0.1, 0, 0, 0.5]],
    err: [0, null, 25, null, null, 100],
    p50: [0.0003, null, 1, null, null, 2],
    series: [
      ["chart-rps", [{ label: "req/s", spanGaps: true }, { label: "errors/s", spanGaps: true }]],
      ["chart-err", [{ label: "error %", spanGaps: false }]],
      ["chart-lat", ["p50", "p95", "p99"].map((label) => ({ label, spanGaps: false }))],
    ],
  };
  for (const k of Object.keys(wantShown)) {
    if (JSON.stringify(shown[k]) !== JSON.stringify(wantShown[k])) {
      problems.push(`made-up update, ${k}: ${JSON.stringify(shown[k])}, expected ${JSON.stringify(wantShown[k])}`);
    }
  }
  if (!/seen in 7 requests since start/.test(shown.nplus1)) {
    problems.push(`N+1 panel '${shown.nplus1}': expected its count of requests said to be since start`);
  }

  // 5. Another window: still live.
  await page.click("#window button:first-child");
  await page.waitForSelector("#window button.on:first-child", { timeout: 5_000 });
  await moreUpdates(page, 2);

  console.log(`page ok: window ${windowSecs} s offered as ${JSON.stringify(offered.map((o) => o[0]))}, ` +
    `tiles ${JSON.stringify(kpi)} ms, live again after ${streams - 1} refused stream(s), waterfall follows the last click`);
  ok = problems.length === 0;
} catch (e) {
  problems.push(String((e && e.stack) || e));
} finally {
  await close();
}
if (problems.length) {
  console.error("page check failed:\n  " + problems.join("\n  "));
  process.exit(1);
}
process.exit(ok ? 0 : 1);
