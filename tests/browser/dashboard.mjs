// Opens the Spyglass dashboard in headless Chromium and checks it is alive:
//   node dashboard.mjs <dashboard-url> <screenshot.png> [--n-plus-one ROUTE] [expected-route ...]
// Fails (exit 1) unless live updates arrive over the stream, the charts hold data points, the routes
// table lists the expected routes, the request waterfall opens, the errors table shows the tenant
// label the example's hook sets, and no console error occurred. With
// `--n-plus-one ROUTE` (an app with instrumented database queries), also unless the queries table
// lists SQL statements and the N+1 panel names ROUTE.
import { launchChromium } from "./launch.mjs";

const [url, shot, ...rest] = process.argv.slice(2);
let nPlusOneRoute = null;
const routes = [];
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === "--n-plus-one") nPlusOneRoute = rest[++i];
  else routes.push(rest[i]);
}
if (!url || !shot || (rest.includes("--n-plus-one") && !nPlusOneRoute)) {
  console.error("usage: node dashboard.mjs <dashboard-url> <screenshot.png> [--n-plus-one ROUTE] [expected-route ...]");
  process.exit(2);
}
const expected = routes.length ? routes : ["/users/{id}"];
const problems = [];

const { ctx, close } = await launchChromium();
let ok = false;
try {
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.on("console", (m) => { if (m.type() === "error") problems.push("console error: " + m.text()); });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });

  await page.goto(url, { waitUntil: "load", timeout: 30_000 });
  // Live: several updates over the stream, with no reload.
  await page.waitForFunction(() => window.spyglassDashboard && window.spyglassDashboard.updates() >= 3,
    null, { timeout: 30_000 });
  // Charts hold data points.
  await page.waitForFunction(() => {
    const d = window.spyglassDashboard;
    const has = (id, series) => {
      const data = d.chartData(id);
      return data && data[0].length > 0 && data[series].some((v) => v != null && v > 0);
    };
    return has("chart-rps", 1) && has("chart-lat", 1) && has("chart-lat", 3);
  }, null, { timeout: 30_000 });
  // The routes table lists the app's routes.
  await page.waitForFunction((want) => {
    const text = document.getElementById("routes").textContent;
    return want.every((r) => text.includes(r));
  }, expected, { timeout: 30_000 });
  const routesShown = await page.$$eval("#routes tbody tr", (rows) => rows.length);
  let dbSummary = "";
  if (nPlusOneRoute) {
    // The queries table lists statements (fingerprints), and the N+1 panel names the route.
    await page.waitForFunction(() => {
      const cells = [...document.querySelectorAll("#queries tbody td.mono")];
      return cells.some((td) => /^(SELECT|INSERT|UPDATE|DELETE|WITH)\b/.test(td.textContent));
    }, null, { timeout: 30_000 });
    await page.waitForFunction((route) => {
      const box = document.getElementById("nplus1");
      return !box.classList.contains("muted") && box.querySelector(".item") && box.textContent.includes(route);
    }, nPlusOneRoute, { timeout: 30_000 });
    const queriesShown = await page.$$eval("#queries tbody tr", (rows) => rows.length);
    const findings = await page.$$eval("#nplus1 .item", (items) => items.length);
    dbSummary = `, ${queriesShown} queries, ${findings} N+1 finding(s)`;
  }
  // Sorting by a column works.
  await page.click("#routes th:nth-child(8)");
  await page.waitForSelector("#routes th.sorted:nth-child(8)");
  // The request detail waterfall opens for a kept trace with spans.
  await page.waitForSelector("#traces tbody tr td.mono", { timeout: 30_000 });
  const idx = await page.$$eval("#traces tbody tr", (rows) =>
    Math.max(0, rows.findIndex((r) => +r.children[3].textContent > 0)));
  await page.click(`#traces tbody tr:nth-child(${idx + 1})`);
  await page.waitForSelector("#waterfall .wf-row", { timeout: 10_000 });
  const wfRows = await page.$$eval("#waterfall .wf-row", (r) => r.length);
  // The example's hook labels each request with its tenant: the errors table shows the label.
  await page.waitForFunction(() => /tenant=(acme|globex|initech)/.test(document.getElementById("errors").textContent),
    null, { timeout: 30_000 });
  // Let one more update land after the click, then take the picture.
  const before = await page.evaluate(() => window.spyglassDashboard.updates());
  await page.waitForFunction((n) => window.spyglassDashboard.updates() > n, before, { timeout: 10_000 });
  await page.screenshot({ path: shot, fullPage: true });
  const points = await page.evaluate(() => window.spyglassDashboard.chartData("chart-rps")[1].filter((v) => v > 0).length);
  console.log(`dashboard ok: ${routesShown} routes${dbSummary}, ${points} throughput points, waterfall with ${wfRows} rows`);
  console.log(`screenshot: ${shot}`);
  ok = problems.length === 0;
} catch (e) {
  problems.push(String(e && e.stack || e));
} finally {
  await close();
}
if (problems.length) {
  console.error("dashboard check failed:\n  " + problems.join("\n  "));
  process.exit(1);
}
process.exit(ok ? 0 : 1);
