"""`make bench-console`: the fleet console's figures, measured in Debian's Chromium (Playwright)
against a stack of its own with the demo fleet.

    .venv/bin/python -m tests.bench.console [--loads 5] [--seconds 60] [--api-url URL]

- Shell size: the page, its stylesheet and every module it loads before the first paint, raw
  and gzip-compressed (target: under 100 KB compressed), and the chart library the vehicle view
  loads afterwards.
- First Contentful Paint (the browser's Paint Timing entry) of --loads cold loads, each in a new
  browser context (empty caches, no service worker), and as many warm reloads under the service
  worker (target: under 1 s on the local stack).
- Installability: the errors Chromium itself reports for installing the page as an app (the
  DevTools protocol's Page.getInstallabilityErrors; none means installable), and whether the
  service worker controls the page.
- Keeping up: the vehicle view of demo-1 open for --seconds; once a second, how far the newest
  reading it shows (its "Last seen") trails the newest one the vehicle stored, and whether the
  stream ever told it updates were skipped.

Without --api-url it starts a stack of its own; with it, it measures the running stack there
(`make run`'s, say). Prints a table and writes console.json to .fleetray/bench/ (under FLEETRAY_STATE_DIR when set).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
from playwright.async_api import async_playwright

from cluster.cli import running_database_url
from cluster.settings import StackSettings
from cluster.stack import LocalStack
from serve_apps.auth import AuthConfig, issue_token
from serve_apps.console import CONSOLE_DIR
from tests.bench.stack import bench_settings, default_state_dir

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHELL_LIMIT_BYTES = 100 * 1024
FCP_TARGET_MS = 1000.0
VEHICLE = "demo-1"
FCP_SCRIPT = """() => new Promise((resolve) => {
  const seen = () => performance.getEntriesByName("first-contentful-paint")[0];
  if (seen()) return resolve(seen().startTime);
  new PerformanceObserver(() => seen() && resolve(seen().startTime)).observe({ type: "paint", buffered: true });
})"""


def shell_files() -> list[Path]:
    """What the page loads before its first paint: itself, its stylesheet and its modules."""
    return [CONSOLE_DIR / "index.html", CONSOLE_DIR / "console.css",
            *sorted(CONSOLE_DIR.glob("*.js")), *sorted((CONSOLE_DIR / "views").glob("*.js"))]


async def sizes(api_url: str) -> dict[str, int]:
    """Bytes as served, raw and gzip -9, of the shell and of the chart library."""
    async with httpx.AsyncClient(base_url=api_url) as client:
        async def served(paths: list[str]) -> tuple[int, int]:
            bodies = [(await client.get(p)).content for p in paths]
            return sum(map(len, bodies)), sum(len(gzip.compress(b, 9)) for b in bodies)
        shell = ["/" if p.name == "index.html" else f"/console/{p.relative_to(CONSOLE_DIR)}" for p in shell_files()
                 if p.name != "sw.js"]
        shell_raw, shell_gz = await served(shell)
        chart_raw, chart_gz = await served(["/console/vendor/uPlot.iife.min.js", "/console/vendor/uPlot.min.css"])
    return {"shell_files": len(shell), "shell_bytes": shell_raw, "shell_gzip_bytes": shell_gz,
            "charts_bytes": chart_raw, "charts_gzip_bytes": chart_gz}


async def first_paints(browser, api_url: str, token: str, loads: int) -> dict[str, list[float]]:
    cold, warm = [], []
    for _ in range(loads):
        context = await browser.new_context(base_url=api_url)
        page = await context.new_page()
        await page.goto(f"/#token={token}")
        cold.append(await page.evaluate(FCP_SCRIPT))
        await page.evaluate("navigator.serviceWorker.ready")
        await page.reload()
        warm.append(await page.evaluate(FCP_SCRIPT))
        await context.close()
    return {"cold_ms": cold, "warm_ms": warm}


async def installability(playwright, api_url: str, token: str) -> dict:
    """In a browser profile of its own: Chromium does not install apps from incognito contexts."""
    profile = tempfile.mkdtemp(prefix="fleetray-console-profile-")
    context = await playwright.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, args=["--no-sandbox"], base_url=api_url)
    page = context.pages[0] if context.pages else await context.new_page()
    await page.goto(f"/#token={token}")
    await page.evaluate("navigator.serviceWorker.ready")
    await page.reload()
    cdp = await context.new_cdp_session(page)
    errors = (await cdp.send("Page.getInstallabilityErrors"))["installabilityErrors"]
    controlled = await page.evaluate("Boolean(navigator.serviceWorker.controller)")
    await context.close()
    shutil.rmtree(profile, ignore_errors=True)
    return {"installability_errors": [e["errorId"] for e in errors], "service_worker_controls_page": controlled}


async def keeping_up(browser, api_url: str, database_url: str, token: str, seconds: float) -> dict:
    """How far the vehicle view's newest reading trails the newest stored one, once a second."""
    context = await browser.new_context(base_url=api_url)
    page = await context.new_page()
    await page.goto(f"/#token={token}")
    await page.evaluate(f"location.hash = '#/vehicle/{VEHICLE}'")
    await page.get_by_text("Live: values update as readings arrive.").wait_for(timeout=30_000)
    conn = await asyncpg.connect(database_url)
    lags, skipped, stored_before = [], False, await conn.fetchval(
        "SELECT count(*) FROM telemetry WHERE vehicle_id = $1", VEHICLE)
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            await asyncio.sleep(1)
            shown = await page.evaluate("""() => {
                const dt = [...document.querySelectorAll('dl.pairs dt')].find((d) => d.textContent === 'Last seen');
                return dt ? dt.nextElementSibling.dataset.at ?? null : null; }""")
            newest = await conn.fetchval("SELECT max(captured_at) FROM telemetry WHERE vehicle_id = $1", VEHICLE)
            skipped |= await page.get_by_text("updates were skipped").count() > 0
            if shown and newest:
                lags.append(max(0.0, (newest - datetime.fromisoformat(shown)).total_seconds()))
        stored = await conn.fetchval("SELECT count(*) FROM telemetry WHERE vehicle_id = $1", VEHICLE) - stored_before
    finally:
        await conn.close()
        await context.close()
    return {"seconds": seconds, "readings_per_second": stored / seconds, "lag_samples": len(lags),
            "lag_p50_s": statistics.median(lags) if lags else None, "lag_max_s": max(lags) if lags else None,
            "skipped_updates": skipped}


async def measure(args: argparse.Namespace, api_url: str, database_url: str, auth: AuthConfig) -> dict:
    token = issue_token(auth, "bench", "demo", "operator")
    report = {"sizes": await sizes(api_url)}
    print(f"shell: {report['sizes']}", flush=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        report["first_paint"] = await first_paints(browser, api_url, token, args.loads)
        print(f"first contentful paint: {report['first_paint']}", flush=True)
        report["install"] = await installability(playwright, api_url, token)
        print(f"installability: {report['install']}", flush=True)
        print(f"watching {VEHICLE} for {args.seconds:.0f} s ...", flush=True)
        report["keeping_up"] = await keeping_up(browser, api_url, database_url, token, args.seconds)
        await browser.close()
    return report


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--api-url", help="measure the running stack at this URL (with its demo fleet; its database "
                                          "and token secret found as `fleetray token` finds them) instead of starting one")
    args = parser.parse_args()

    if args.api_url:
        settings = StackSettings()
        report = await measure(args, args.api_url, running_database_url(settings), settings.auth)
    else:
        state_dir = Path(tempfile.mkdtemp(prefix="fleetray-bench-console-"))
        stack = LocalStack(bench_settings(state_dir, demo_fleet=3))
        print("starting a stack with the demo fleet ...", flush=True)
        await stack.start()
        try:
            report = await measure(args, stack.api_url, stack.settings.database_url, stack.settings.auth)
        finally:
            await stack.stop()
            shutil.rmtree(state_dir, ignore_errors=True)
    print_report(report)
    out = default_state_dir() / "bench" / "console.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"report: {out}")


def print_report(report: dict) -> None:
    s, paint, install, live = report["sizes"], report["first_paint"], report["install"], report["keeping_up"]
    print(f"\nshell ({s['shell_files']} files): {s['shell_bytes'] / 1024:.1f} KB, {s['shell_gzip_bytes'] / 1024:.1f} KB "
          f"gzip (target < {SHELL_LIMIT_BYTES / 1024:.0f} KB); charts, loaded by the vehicle view: "
          f"{s['charts_bytes'] / 1024:.1f} KB, {s['charts_gzip_bytes'] / 1024:.1f} KB gzip")
    for kind in ("cold", "warm"):
        times = paint[f"{kind}_ms"]
        print(f"first contentful paint, {kind} ({len(times)} loads): median {statistics.median(times):.0f} ms, "
              f"max {max(times):.0f} ms (target < {FCP_TARGET_MS:.0f} ms)")
    print(f"installable: {'yes' if not install['installability_errors'] else install['installability_errors']}; "
          f"service worker controls the page: {install['service_worker_controls_page']}")
    print(f"vehicle view of {VEHICLE}, {live['seconds']:.0f} s at {live['readings_per_second']:.1f} readings/s stored: "
          f"newest reading shown trails the newest stored by median {live['lag_p50_s']} s, max {live['lag_max_s']} s "
          f"({live['lag_samples']} samples); updates skipped: {'yes' if live['skipped_updates'] else 'none'}")


if __name__ == "__main__":
    asyncio.run(main())
