"""The fleet console (serve_apps/console) in a real headless Chromium (Debian's package, driven by
Playwright) against the test stack with its demo fleet: sign-in, the live views, search,
bookings, keyboard use, offline reload, tenant isolation, and axe-core's WCAG 2.x A, AA and
AAA rules on every view in light and dark. Screenshots of each view go to .fleetray/console/."""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright, expect

from serve_apps.auth import issue_token
from tests.helpers import create_booking, token_for, wait_until

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(".fleetray/console")
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag2aaa", "wcag21a", "wcag21aa", "wcag22aa"]
VIEWS = {"fleet": "#/fleet", "vehicle": "#/vehicle/demo-1", "alerts": "#/alerts", "leaderboard": "#/leaderboard",
         "models": "#/models", "bookings": "#/bookings", "search": "#/search?q=P03"}
SECONDS = 1000  # Playwright's timeouts are in milliseconds


@pytest.fixture(scope="module")
async def browser():
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        await chromium.close()


@pytest.fixture(scope="module")
async def demo_code(stack):
    """demo-1's adapter reports P0301 while these tests run, so search has a demo code to find."""
    emulator = stack.emulators[0]
    emulator.set_trouble_codes(["P0301"])
    yield "P0301"
    emulator.set_trouble_codes([])


async def open_console(browser: Browser, stack, token: str, route: str = "#/fleet",
                       color_scheme: str = "light", service_workers: str = "allow") -> Page:
    """service_workers="block" for a test that routes the page's requests: Playwright does not
    see a request the console's service worker was offered, even one it lets through."""
    context = await browser.new_context(base_url=stack.api_url, color_scheme=color_scheme,
                                        viewport={"width": 1280, "height": 900}, service_workers=service_workers)
    page = await context.new_page()
    await page.goto(f"/#token={token}")
    await expect(page.get_by_role("heading", level=1, name="Fleet")).to_be_visible()
    if route != "#/fleet":
        await page.evaluate("route => { location.hash = route; }", route)
    return page


def demo_token(auth_config, role: str = "operator") -> str:
    return token_for(auth_config, "console-tester", "demo", role)


async def test_a_pasted_token_signs_in_and_the_fleet_shows_the_demo_vehicles(browser, stack, auth_config):
    context = await browser.new_context(base_url=stack.api_url)
    page = await context.new_page()
    await page.goto("/")
    await page.get_by_label("Bearer token").fill(demo_token(auth_config))
    await page.get_by_role("button", name="Sign in").click()
    for i in range(1, stack.settings.demo_fleet + 1):
        await expect(page.get_by_role("link", name=f"demo-{i} (Demo car {i})")).to_be_visible()
    await context.close()


async def test_the_token_is_kept_for_the_tab_and_sign_out_forgets_it(browser, stack, auth_config):
    page = await open_console(browser, stack, demo_token(auth_config))
    assert "#token=" not in page.url, "the token leaves the address bar"
    assert await page.evaluate("sessionStorage.getItem('fleetray.token')")
    assert await page.evaluate("localStorage.length") == 0
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", level=1, name="Sign in to the fleet console")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('fleetray.token')") is None
    await page.context.close()


async def test_an_expired_token_brings_back_the_sign_in_with_a_message(browser, stack, auth_config):
    short = issue_token(auth_config, "console-tester", "demo", "operator", ttl_seconds=3)
    page = await open_console(browser, stack, short)
    await expect(page.get_by_text("Your session expired. Sign in again.")).to_be_visible(timeout=10 * SECONDS)
    await expect(page.get_by_label("Bearer token")).to_be_visible()
    await page.context.close()


async def test_the_vehicle_view_shows_live_values_that_change(browser, stack, auth_config):
    page = await open_console(browser, stack, demo_token(auth_config), VIEWS["vehicle"])
    rpm = page.locator("section.card", has=page.get_by_role("heading", name="Engine speed (rpm)")).locator(".value")
    await expect(rpm).not_to_have_text("–", timeout=30 * SECONDS)
    first = await rpm.text_content()
    await expect(rpm).not_to_have_text(first, timeout=30 * SECONDS)
    await expect(page.get_by_role("status").filter(has_text="Live: values update")).to_be_visible()
    chart = page.get_by_role("img", name="Engine speed over the last 10 minutes")
    assert "now" in await chart.get_attribute("aria-label"), "the chart's text alternative tells its current value"
    await page.context.close()


async def test_the_vehicle_view_shows_each_models_prediction_with_its_version(browser, stack, auth_config,
                                                                              served_models, make_client):
    demo = make_client("viewer", tenant="demo")

    async def engine_predicts() -> bool:
        return "outputs" in (await demo.get("/v1/vehicles/demo-2/predictions")).json()["predictions"]["engine"]
    await wait_until(engine_predicts, timeout=60, interval=1.0)
    page = await open_console(browser, stack, demo_token(auth_config), "#/vehicle/demo-2")
    engine = page.get_by_role("table", name="Predictions of every served model").get_by_role("row", name=re.compile(r"^engine "))
    await expect(engine).to_contain_text(f"v{served_models['engine']} (stable)")
    await expect(engine).to_contain_text("fails soon:")
    await page.evaluate("location.hash = '#/fleet'")
    row = page.get_by_role("row", name="demo-2 (Demo car 2)")
    await expect(row.get_by_role("cell").last).to_have_text(re.compile(r"^\d+ %$"))
    await page.context.close()


async def test_a_raised_alert_appears_on_the_fleet_view_without_a_reload(browser, stack, auth_config, make_client):
    operator = make_client("console-tester", tenant="demo", role="operator")
    vehicle_id = f"console-hot-{uuid.uuid4().hex[:6]}"
    assert (await operator.post("/v1/vehicles", json={"vehicle_id": vehicle_id, "name": "Hot van"})).status_code == 201
    page = await open_console(browser, stack, demo_token(auth_config))
    await expect(page.get_by_role("status").filter(has_text="Live: new alerts appear")).to_be_visible(timeout=15 * SECONDS)
    now = datetime.now(timezone.utc).isoformat()
    response = await operator.post(f"/v1/vehicles/{vehicle_id}/telemetry", json={
        "readings": [{"pid": "COOLANT_TEMP", "value": 131.0, "unit": "degree_Celsius", "captured_at": now}]})
    assert response.status_code == 202
    latest = page.get_by_role("list", name="Alerts received since this page opened")
    await expect(latest.get_by_text(vehicle_id)).to_be_visible(timeout=30 * SECONDS)
    await page.context.close()


async def test_search_for_p03_finds_the_demo_code_with_its_description(browser, stack, auth_config, demo_code):
    page = await open_console(browser, stack, demo_token(auth_config))

    async def found() -> bool:
        await page.get_by_label("Search vehicles and trouble codes").fill("P03")
        await page.get_by_label("Search vehicles and trouble codes").press("Enter")
        await expect(page.get_by_role("heading", level=1, name="Search: P03")).to_be_visible()
        await expect(page.get_by_role("status").filter(has_text="trouble code")).to_be_visible()
        return await page.get_by_text("Cylinder 1 Misfire Detected").count() > 0
    assert await wait_until(found, timeout=60, interval=2), "the adapter's code reaches the search"
    await expect(page.get_by_role("link", name="demo-1 (Demo car 1)")).to_be_visible()
    await page.get_by_role("link", name=re.compile("^P0301: 1 vehicle")).click()  # the code's facet narrows the list
    await expect(page.get_by_role("link", name=re.compile("^Remove filter P0301"))).to_be_visible()
    await expect(page.get_by_role("link", name="demo-1 (Demo car 1)")).to_be_visible()
    await page.context.close()


async def test_a_second_cancel_of_a_completed_booking_shows_the_adrs_error(browser, stack, auth_config, make_client):
    user = make_client("console-booker", tenant="demo")
    starts = datetime.now(timezone.utc) + timedelta(days=3)
    created = await user.post("/v1/bookings", json={"resource_id": f"room-{uuid.uuid4().hex[:6]}",
                                                    "starts_at": starts.isoformat(),
                                                    "ends_at": (starts + timedelta(hours=2)).isoformat()})
    booking = created.json()
    operator = make_client("console-tester", tenant="demo", role="operator")
    assert (await operator.post(f"/v1/bookings/{booking['booking_id']}/complete")).status_code == 200
    page = await open_console(browser, stack, token_for(auth_config, "console-booker", "demo"), VIEWS["bookings"])
    card = page.locator("li.card", has=page.get_by_role("heading", name=f"Booking {booking['confirmation_code']}"))
    await card.get_by_role("button", name=f"Cancel booking {booking['confirmation_code']}").click()
    await expect(card.get_by_role("alert")).to_contain_text("cannot be cancelled in its current state")
    await page.context.close()


async def test_a_cancellation_is_shown_on_its_booking_and_takes_the_focus(browser, stack, auth_config, make_client):
    booking = await create_booking(make_client("console-canceller", tenant="demo"))
    page = await open_console(browser, stack, token_for(auth_config, "console-canceller", "demo"), VIEWS["bookings"])
    card = page.locator("li.card", has=page.get_by_role("heading", name=f"Booking {booking['confirmation_code']}"))
    await card.get_by_label("Reason").select_option("found_alternative")
    await card.get_by_role("button", name=f"Cancel booking {booking['confirmation_code']}").click()
    confirmation = card.get_by_role("status")
    await expect(confirmation).to_contain_text("(found_alternative)")
    await expect(confirmation).to_be_focused()
    await expect(card.get_by_role("definition").last).to_have_text("cancelled")
    await page.context.close()


async def test_every_view_is_reachable_by_keyboard_with_a_visible_focus(browser, stack, auth_config):
    page = await open_console(browser, stack, demo_token(auth_config))
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
    for name in ("Alerts", "Leaderboard", "Models", "Bookings", "Fleet"):
        for _ in range(15):  # back from the view's heading through the header to its link
            await page.keyboard.press("Shift+Tab")
            if await page.evaluate("document.activeElement.textContent") == name:
                break
        assert await page.evaluate("document.activeElement.textContent") == name
        outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", f"the focused {name} link shows its focus"
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("heading", level=1, name=name)).to_be_focused()
    await page.context.close()


async def test_an_offline_reload_shows_the_shell_the_last_data_and_the_banner(browser, stack, auth_config):
    page = await open_console(browser, stack, demo_token(auth_config))
    await page.evaluate("navigator.serviceWorker.ready")
    await page.reload()  # now under the service worker, which keeps the answers it passes on
    await expect(page.get_by_role("link", name="demo-1 (Demo car 1)")).to_be_visible()
    await page.context.set_offline(True)
    await page.reload()
    await expect(page.get_by_text("You are offline.")).to_be_visible()
    await expect(page.get_by_role("link", name="demo-1 (Demo car 1)")).to_be_visible()
    await page.context.close()


async def test_a_refused_stream_is_asked_again_less_and_less_often(browser, stack, auth_config):
    page = await open_console(browser, stack, demo_token(auth_config), "#/bookings",  # no stream open
                              service_workers="block")
    attempts: list[float] = []

    async def refuse(route):
        attempts.append(time.monotonic())
        await route.fulfill(status=503, json={"error": "UNAVAILABLE", "message": "down for the test"})
    await page.route("**/v1/fleet/stream", refuse)
    await page.evaluate("location.hash = '#/alerts'")
    await page.wait_for_timeout(6500)
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    # 1 s, 2 s, 4 s (each within 20 %): four attempts at most where a fixed second would make seven
    assert 3 <= len(attempts) <= 4 and gaps[1] > 1.3 * gaps[0], gaps
    await page.context.close()


async def test_stream_events_with_bare_carriage_returns_are_read(browser, stack, auth_config):
    """The SSE format allows CR, LF or CRLF line endings; fleetray sends LF, a proxy may not."""
    page = await open_console(browser, stack, demo_token(auth_config), "#/bookings", service_workers="block")
    alert = {"type": "alert", "event_type": "VehicleAlertRaised", "severity": "warning", "vehicle_id": "demo-cr",
             "key": "cr_test", "message": "Raised over a CR stream", "occurred_at": "2030-01-01T00:00:00+00:00"}
    body = f": subscribed\r\rretry: 60000\rid: 1\revent: alert\rdata: {json.dumps(alert)}\r\r"
    await page.route("**/v1/fleet/stream", lambda route: route.fulfill(
        status=200, headers={"content-type": "text/event-stream"}, body=body))
    await page.evaluate("location.hash = '#/alerts'")
    table = page.get_by_role("table", name=re.compile("^Open alerts"))
    await expect(table.get_by_role("row", name=re.compile("demo-cr"))).to_contain_text("Raised over a CR stream")
    await page.context.close()


async def test_another_tenants_vehicles_are_never_shown(browser, stack, auth_config):
    page = await open_console(browser, stack, token_for(auth_config, "outsider", "default", "operator"))
    await expect(page.get_by_role("table", name="Vehicles of the fleet")).to_be_visible()
    assert await page.get_by_text("demo-1").count() == 0
    await page.evaluate("location.hash = '#/vehicle/demo-1'")
    await expect(page.get_by_role("alert").first).to_contain_text("not found", ignore_case=True)
    assert await page.get_by_text("Demo car 1").count() == 0
    await page.context.close()


async def test_an_administrator_promotes_a_canary_and_rolls_it_back_from_the_models_view(
        browser, stack, auth_config, served_models, model_registry, tmp_path):
    family = "battery"
    stable = served_models[family]
    canary = await model_registry.register(await model_registry.fetch(family, stable, tmp_path / "copy"))
    page = await open_console(browser, stack, demo_token(auth_config, "admin"), "#/models")
    section = page.get_by_role("region", name=family)
    await expect(section.get_by_role("table", name=f"Registered versions of {family}")).to_contain_text(f"v{canary}")
    await section.get_by_label("Version", exact=True).select_option(str(canary))
    await section.get_by_label("Traffic share (%)").fill("25")
    await section.get_by_role("button", name=f"Promote the chosen version of {family}").click()
    status = page.get_by_role("status").filter(has_text=f"{family}:")
    await expect(status).to_have_text(f"{family}: v{stable} stable, v{canary} canary taking 25 %.")
    await expect(status).to_be_focused()
    served = page.get_by_role("table", name="Failure-prediction models served now").get_by_role("row", name=re.compile(f"^{family} "))
    await expect(served).to_contain_text(f"v{canary}")
    await page.get_by_role("region", name=family).get_by_role("button", name=f"Roll back {family}").click()
    await expect(page.get_by_role("status").filter(has_text="rolled back")).to_have_text(
        f"{family} rolled back: v{stable} takes all traffic.")
    await page.context.close()


async def test_the_models_view_offers_no_changes_to_operators(browser, stack, auth_config, served_models):
    page = await open_console(browser, stack, demo_token(auth_config), "#/models")
    await expect(page.get_by_role("table", name="Failure-prediction models served now")).to_contain_text("battery")
    await expect(page.get_by_text("Administrators promote and roll back versions here")).to_be_visible()
    assert await page.get_by_role("button", name=re.compile("^(Promote|Roll back)")).count() == 0
    await page.context.close()


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
async def test_every_view_passes_axe_core_wcag_aaa_rules(browser, stack, auth_config, make_client, demo_code,
                                                        served_models, color_scheme):
    """As an administrator, who sees every form (the Models view's too)."""
    await create_booking(make_client("console-tester", tenant="demo", role="admin"))  # a card with a form
    page = await open_console(browser, stack, demo_token(auth_config, "admin"), color_scheme=color_scheme)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = {}
    for view, route in VIEWS.items():
        await page.evaluate("route => { location.hash = route; }", route)
        await page.wait_for_timeout(1500)  # the view's first answers and stream events
        results = await Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]})
        if results.violations_count:
            problems[view] = results.generate_snapshot()
        await page.screenshot(path=SCREENSHOTS / f"{view}-{color_scheme}.png", full_page=True)
    await page.context.close()
    assert problems == {}
