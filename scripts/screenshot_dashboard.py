"""The README's picture of a running dashboard: `python scripts/screenshot_dashboard.py URL
OUT.png` (Playwright with Debian's chromium, as the browser test drives it). Take it from a
`make demo` run, two minutes after it prints "dashboard at"."""

import sys

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"

if __name__ == "__main__":
    url, out = sys.argv[1], sys.argv[2]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        page = browser.new_page(viewport={"width": 1500, "height": 2200})
        page.goto(url)
        page.get_by_text("Transactions", exact=True).first.wait_for(timeout=60_000)
        page.locator('[data-testid="stVegaLiteChart"]').nth(3).wait_for(timeout=60_000)
        page.wait_for_timeout(3_000)  # the map and the tables settle
        page.screenshot(path=out, full_page=True)
        browser.close()
