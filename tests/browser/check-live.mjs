// Opens volley's live dashboard in headless Chromium while a run goes and checks what a
// watcher would see: the charts draw and keep updating, the threshold panel flips from
// passing to crossed as the run crosses it, the HTML report is offered at the end, no console
// errors, no request outside the dashboard's origin, and no page-wide horizontal scrolling at
// laptop (1280 px) and phone (390 px) widths. Saves a screenshot per width.
//
// usage: node check-live.mjs DASHBOARD_URL SCREENSHOT_DIR
// env:   CHROMIUM=/path/to/chromium (default /usr/bin/chromium, Debian's package)

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [url, shotDir] = process.argv.slice(2);
if (!url || !shotDir) {
  console.error("usage: node check-live.mjs DASHBOARD_URL SCREENSHOT_DIR");
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

async function watch(width) {
  const tag = `[${width}px]`;
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error") fail(`${tag} console error: ${m.text()}`); });
  page.on("pageerror", (e) => fail(`${tag} page error: ${e.message}`));
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith("blob:") && !u.startsWith("data:")) fail(`${tag} the page fetched ${u}`);
  });
  await page.goto(url, { waitUntil: "load" });
  const charts = () => page.evaluate(() => [...document.querySelectorAll("canvas")].map((c) => Number(c.dataset.points || 0)));
  // Charts draw...
  await page.waitForFunction(() => [...document.querySelectorAll("canvas")].every((c) => Number(c.dataset.points || 0) >= 2), null, { timeout: 20000 });
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
  const inked = await page.evaluate(() => [...document.querySelectorAll("canvas")].every((c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n > 500;
  }));
  if (!inked) fail(`${tag} a chart canvas is blank`);
  const rows = await page.$$eval("#endpoints tr", (t) => t.length);
  if (rows < 1) fail(`${tag} no endpoint row`);
  const scroll = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  if (scroll[0] > scroll[1] + 1) fail(`${tag} the page scrolls sideways: ${scroll[0]} > ${scroll[1]}`);
  await page.screenshot({ path: join(shotDir, `live-${width}.png`), fullPage: true });
  return page;
}

try {
  const pages = await Promise.all([watch(1280), watch(390)]);
  // At the end the page offers the run's report.
  for (const [i, page] of pages.entries()) {
    await page.waitForSelector("#report:not([hidden])", { timeout: 40000 });
    const href = await page.getAttribute("#report", "href");
    if (!href || !href.startsWith("blob:")) fail(`page ${i}: the report link is ${href}`);
    const phase = await page.textContent("#phase");
    if (phase !== "ended") fail(`page ${i}: phase ${phase} at the end`);
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
console.log(`live dashboard: ok (1280 and 390 px, screenshots in ${shotDir})`);
