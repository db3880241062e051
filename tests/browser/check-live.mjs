// Opens volley's live dashboard in headless Chromium while a run goes and checks what a
// watcher would see: the charts draw and keep updating, the threshold panel flips from
// passing to crossed as the run crosses it, the HTML report is offered at the end, no console
// errors, no request outside the dashboard's origin, and no page-wide horizontal scrolling at
// laptop (1280 px) and phone (390 px) widths. Saves a screenshot per width.
// With --capacity, the page of a capacity search (`volley capacity --dashboard`): its steps
// table and chart draw and grow step by step, the capacity found and the report at the end,
// with the same console, origin and width checks.
//
// usage: node check-live.mjs DASHBOARD_URL SCREENSHOT_DIR [--capacity]
// env:   CHROMIUM=/path/to/chromium (default /usr/bin/chromium, Debian's package)

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [url, shotDir, mode] = process.argv.slice(2);
const capacity = mode === "--capacity";
if (!url || !shotDir) {
  console.error("usage: node check-live.mjs DASHBOARD_URL SCREENSHOT_DIR [--capacity]");
  process.exit(2);
}
mkdirSync(shotDir, { recursive: true });
const origin = new URL(url).origin;
const failures = [];
const fail = (msg) => failures.push(msg);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu"],
});

async function open(width, tag) {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error") fail(`${tag} console error: ${m.text()}`); });
  page.on("pageerror", (e) => fail(`${tag} page error: ${e.message}`));
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith("blob:") && !u.startsWith("data:")) fail(`${tag} the page fetched ${u}`);
  });
  await page.goto(url, { waitUntil: "load" });
  return page;
}

// Ink on a canvas: more than `min` pixels drawn.
const inkedCanvas = (page, sel, min) => page.$eval(sel, (c, min) => {
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n > min;
}, min);

async function noSideways(page, tag) {
  const scroll = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  if (scroll[0] > scroll[1] + 1) fail(`${tag} the page scrolls sideways: ${scroll[0]} > ${scroll[1]}`);
}

// A capacity search's page: the steps panel appears, its table and chart grow as steps
// finish, the per-second charts draw for the step running, and at the end the capacity and
// the search's report.
async function watchCapacity(width) {
  const tag = `[${width}px capacity]`;
  const page = await open(width, tag);
  await page.waitForSelector("#capacity:not([hidden])", { timeout: 20000 });
  const stepRows = () => page.$$eval("#capacity-rows tr", (t) => t.filter((r) => !r.querySelector(".muted")).length);
  const stepPoints = () => page.$eval("#c-steps", (c) => Number(c.dataset.points || 0));
  await page.waitForFunction(() => Number(document.querySelector("#c-steps").dataset.points || 0) >= 1, null, { timeout: 30000 });
  const first = [await stepRows(), await stepPoints()];
  await page.waitForFunction((n) => document.querySelectorAll("#capacity-rows tr").length > n && Number(document.querySelector("#c-steps").dataset.points || 0) > n, first[0], { timeout: 30000 });
  const later = [await stepRows(), await stepPoints()];
  if (!(later[0] > first[0] && later[1] > first[1])) fail(`${tag} the steps did not update: ${first} -> ${later}`);
  if (later[0] !== later[1]) fail(`${tag} the table has ${later[0]} steps, the chart ${later[1]}`);
  if (!(await inkedCanvas(page, "#c-steps", 500))) fail(`${tag} the steps chart is blank`);
  const cells = await page.$$eval("#capacity-rows tr:first-child td", (t) => t.map((c) => c.textContent));
  if (cells.length !== 7 || !/^\d/.test(cells[2])) fail(`${tag} the first step's row is ${JSON.stringify(cells)}`);
  await page.waitForFunction(() => [...document.querySelectorAll(".charts canvas")].every((c) => Number(c.dataset.points || 0) >= 1), null, { timeout: 20000 });
  await noSideways(page, tag);
  await page.screenshot({ path: join(shotDir, `live-capacity-${width}.png`), fullPage: true });
  return page;
}

async function watch(width) {
  const tag = `[${width}px]`;
  const page = await open(width, tag);
  const charts = () => page.evaluate(() => [...document.querySelectorAll(".charts canvas")].map((c) => Number(c.dataset.points || 0)));
  // Charts draw...
  await page.waitForFunction(() => [...document.querySelectorAll(".charts canvas")].every((c) => Number(c.dataset.points || 0) >= 2), null, { timeout: 20000 });
  const first = await charts();
  // ...the threshold that holds at first is shown passing...
  await page.waitForSelector("#thresholds li.ok", { timeout: 20000 });
  // ...and flips to crossed once the run crosses it.
  await page.waitForSelector("#thresholds li.crossed", { timeout: 30000 });
  const crossed = await page.textContent("#thresholds li.crossed");
  if (!crossed.includes("http_reqs")) fail(`${tag} the crossed threshold is not http_reqs: ${crossed}`);
  const later = await charts();
  if (!later.every((n, i) => n > first[i])) fail(`${tag} the charts did not update: ${first} -> ${later}`);
  // Drawn pixels, not an empty canvas.
  for (const id of ["#c-rps", "#c-lat", "#c-vus"]) {
    if (!(await inkedCanvas(page, id, 500))) fail(`${tag} the chart ${id} is blank`);
  }
  const rows = await page.$$eval("#endpoints tr", (t) => t.length);
  if (rows < 1) fail(`${tag} no endpoint row`);
  await noSideways(page, tag);
  await page.screenshot({ path: join(shotDir, `live-${width}.png`), fullPage: true });
  return page;
}

try {
  const pages = await Promise.all(capacity ? [watchCapacity(1280), watchCapacity(390)] : [watch(1280), watch(390)]);
  // At the end the page offers the run's report.
  for (const [i, page] of pages.entries()) {
    await page.waitForSelector("#report:not([hidden])", { timeout: 40000 });
    const href = await page.getAttribute("#report", "href");
    if (!href || !href.startsWith("blob:")) fail(`page ${i}: the report link is ${href}`);
    const phase = await page.textContent("#phase");
    if (phase !== "ended") fail(`page ${i}: phase ${phase} at the end`);
    if (capacity) {
      const note = await page.textContent("#capacity-note");
      if (!/^capacity: [\d,.]+ req\/s/.test(note)) fail(`page ${i}: the capacity at the end reads ${JSON.stringify(note)}`);
    }
  }
} catch (e) {
  fail(`error: ${e.message}`);
} finally {
  await browser.close();
}

if (failures.length) {
  console.error(`live dashboard: ${failures.length} problem(s):\n  ` + failures.join("\n  "));
  process.exit(1);
}
console.log(`live dashboard${capacity ? " (capacity search)" : ""}: ok (1280 and 390 px, screenshots in ${shotDir})`);
