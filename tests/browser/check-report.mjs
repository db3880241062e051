// Opens a volley HTML report in headless Chromium and checks what a reader would see:
// no console errors, no network requests (the page is self-contained), no script executed
// (markup from a URL stays text), every chart present and drawn, and no page-wide horizontal
// scrolling at laptop (1280 px) and phone (390 px) widths. Saves a full-page screenshot per
// width.
//
// usage: node check-report.mjs REPORT.html SCREENSHOT_DIR [--min-charts N]
// env:   CHROMIUM=/path/to/chromium (default /usr/bin/chromium, Debian's package)

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { resolve, join, basename } from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const positional = args.filter((a, i) => !a.startsWith("--") && !(args[i - 1] ?? "").startsWith("--"));
const [report, shotDir] = positional;
const minChartsArg = args.indexOf("--min-charts");
const minCharts = minChartsArg >= 0 ? Number(args[minChartsArg + 1]) : 5;
if (!report || !shotDir) {
  console.error("usage: node check-report.mjs REPORT.html SCREENSHOT_DIR [--min-charts N]");
  process.exit(2);
}

const failures = [];
const fail = (msg) => failures.push(msg);
mkdirSync(shotDir, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Running as root in CI containers needs the sandbox off.
  args: ["--no-sandbox", "--disable-gpu"],
});

try {
  for (const width of [1280, 390]) {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    const tag = `[${width}px]`;
    page.on("console", (m) => {
      if (m.type() === "error") fail(`${tag} console error: ${m.text()}`);
    });
    page.on("pageerror", (e) => fail(`${tag} page error: ${e.message}`));
    page.on("dialog", async (d) => {
      fail(`${tag} a dialog opened (injected script ran?): ${d.message()}`);
      await d.dismiss();
    });
    page.on("request", (r) => {
      const u = r.url();
      if (!u.startsWith("file:") && !u.startsWith("data:")) fail(`${tag} the page fetched ${u}`);
    });

    await page.goto(pathToFileURL(resolve(report)).href, { waitUntil: "load" });

    const facts = await page.evaluate(() => {
      const charts = [...document.querySelectorAll("figure.chart")].map((fig) => {
        const svg = fig.querySelector("svg");
        if (!svg) return { id: fig.id, svg: false };
        const box = svg.getBoundingClientRect();
        // Data lines have several points; axes and grid lines have two.
        const lines = [...svg.querySelectorAll("polyline")].filter(
          (p) => (p.getAttribute("points") || "").trim().split(/\s+/).length >= 3,
        ).length;
        const paths = [...svg.querySelectorAll("path")].filter((p) => (p.getAttribute("d") || "").length > 10).length;
        return { id: fig.id, svg: true, width: box.width, height: box.height, lines, paths };
      });
      return {
        charts,
        scripts: document.querySelectorAll("script").length,
        xss: window.__xss,
        title: document.title,
        h1: document.querySelector("h1")?.textContent ?? "",
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
        tables: document.querySelectorAll("table").length,
      };
    });

    if (facts.charts.length < minCharts) fail(`${tag} expected at least ${minCharts} charts, found ${facts.charts.length}`);
    for (const c of facts.charts) {
      if (!c.svg) fail(`${tag} chart ${c.id} has no <svg>`);
      else if (c.width < 100 || c.height < 50) fail(`${tag} chart ${c.id} is ${c.width}x${c.height} px`);
      else if (c.lines + c.paths === 0) fail(`${tag} chart ${c.id} has no drawn line`);
    }
    if (facts.scripts !== 0) fail(`${tag} the page contains ${facts.scripts} <script> element(s)`);
    if (facts.xss !== undefined) fail(`${tag} an injected script executed (window.__xss = ${facts.xss})`);
    if (facts.tables === 0) fail(`${tag} no tables`);
    if (facts.scrollWidth > facts.innerWidth + 1) {
      fail(`${tag} the page scrolls sideways: ${facts.scrollWidth}px content in a ${facts.innerWidth}px window`);
    }

    const shot = join(shotDir, `${basename(report).replace(/\.html?$/, "")}-${width}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`${tag} ${facts.charts.length} charts, ${facts.tables} tables; screenshot ${shot}`);
    await page.close();
  }
} finally {
  await browser.close();
}

if (failures.length) {
  for (const f of failures) console.error(`FAIL ${f}`);
  process.exit(1);
}
console.log(`OK ${report}`);
