"""The browser half of scripts/dashboard-check: opens a balancer's
/dashboard in headless Chromium (selenium, Debian's chromium and
chromium-driver), waits until it shows the nodes, saves a screenshot, and
checks what the page shows against the balancer's own /nodes and /stats.

    python dashboard_check.py --url http://127.0.0.1:PORT --out DIR --read-keys K1,K2,...

Exit status 0 when every check passed, 1 when one failed (each failure is
printed), 2 on a usage error. DIR gets dashboard.png (the whole page) and
dashboard.txt (the page's text), whatever the outcome, and
dashboard-busy.png (the page while reads flow) once it got that far.
"""

import argparse
import json
import sys
import tempfile
import threading
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT_SECONDS = 30


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text.strip()


def as_number(s):
    try:
        return float(s)
    except ValueError:
        return None


def percent(f):
    """The page's fmtPercent, for comparing with /stats."""
    return "–" if f is None else f"{f * 100:.1f}%"


def start_browser(profile):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",  # runs as root in CI
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(WAIT_SECONDS)
    return driver


class Traffic(threading.Thread):
    """Reads the given keys in a loop until stopped, so ops/s is above 0."""

    def __init__(self, url, keys):
        super().__init__(daemon=True)
        self.url, self.keys, self.stop = url, keys, threading.Event()

    def run(self):
        while not self.stop.is_set():
            for key in self.keys:
                with urllib.request.urlopen(f"{self.url}/cache/{key}", timeout=5) as r:
                    r.read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--read-keys", required=True, help="comma-separated keys that exist")
    args = parser.parse_args()
    keys = args.read_keys.split(",")
    failures = []

    def check(ok, what):
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            failures.append(what)

    nodes = get_json(f"{args.url}/nodes")["nodes"]
    ids = sorted(n["id"] for n in nodes)
    with tempfile.TemporaryDirectory(prefix="dlb-chromium-") as profile:
        driver = start_browser(profile)
        try:
            driver.get(f"{args.url}/dashboard")
            wait = WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.2)

            def shows_the_nodes(d):
                rows = d.find_elements(By.CSS_SELECTOR, "tr.node")
                shown = sorted(r.get_attribute("data-node-id") for r in rows)
                bars = d.find_elements(By.CSS_SELECTOR, "tr.node .util-bar")
                rate = as_number(text(d, "ops-per-sec"))
                return shown == ids and len(bars) == len(ids) and rate is not None

            def ops_per_second(d):
                rate = as_number(text(d, "ops-per-sec"))
                return rate if rate is not None and rate > 0 else False

            def polls(d):
                return int(d.find_element(By.TAG_NAME, "body").get_attribute("data-polls"))

            try:
                wait.until(shows_the_nodes)
                check(True, f"the page shows every node of /nodes ({', '.join(ids)}) and ops/s as a number")
                traffic = Traffic(args.url, keys)
                traffic.start()
                busy = wait.until(ops_per_second)
                check(True, f"ops/s shown while reads flow: {busy}")
                driver.save_screenshot(f"{args.out}/dashboard-busy.png")
                traffic.stop.set()
                traffic.join()
                # Two polls after the reads stopped, the rate (a difference
                # of two polls) must be 0.
                stopped = polls(driver)
                wait.until(lambda d: polls(d) >= stopped + 2)
                check(text(driver, "ops-per-sec") == "0.0",
                      f"ops/s falls to 0.0 once reads stop: {text(driver, 'ops-per-sec')!r}")
            except TimeoutException:
                check(False, f"the page did not get there within {WAIT_SECONDS}s; it shows:\n"
                      + driver.find_element(By.TAG_NAME, "body").text)

            # What the page shows against what the balancer says, now that
            # the counters are still.
            nodes = {n["id"]: n for n in get_json(f"{args.url}/nodes")["nodes"]}
            stats = get_json(f"{args.url}/stats")
            rows = driver.find_elements(By.CSS_SELECTOR, "tr.node")
            check(len(rows) == len(nodes), f"node rows in the page ({len(rows)}) = nodes in /nodes ({len(nodes)})")
            for row in rows:
                node_id = row.get_attribute("data-node-id")
                node = nodes.get(node_id)
                if node is None:
                    check(False, f"the page shows {node_id}, which /nodes does not list")
                    continue
                state = row.find_element(By.CSS_SELECTOR, ".state").text
                check(state == node["state"], f"{node_id}: state {state!r} as in /nodes")
                bar = row.find_elements(By.CSS_SELECTOR, ".util-bar")
                check(len(bar) == 1, f"{node_id}: one utilization bar")
                shown = as_number(bar[0].get_attribute("aria-valuenow")) if bar else None
                want = node["utilization"]
                close = shown is not None and want is not None and abs(shown - want) < 0.05
                check(close, f"{node_id}: the bar shows utilization {shown} (/nodes: {want})")
                width = bar[0].find_element(By.CSS_SELECTOR, ".util-fill").size["width"] if bar else 0
                check(width > 0, f"{node_id}: the bar is filled ({width}px)")
            up = sum(1 for n in nodes.values() if n["state"] == "up")
            check(text(driver, "nodes-up") == f"{up} / {len(nodes)}", f"nodes up: {text(driver, 'nodes-up')!r}")
            placed = as_number(text(driver, "placements-total"))
            check(driver.find_element(By.ID, "placements").is_displayed(), "the placements section is shown")
            check(placed is not None and placed > 0 and placed == stats["placements_total"],
                  f"placements shown: {placed} (/stats: {stats['placements_total']})")
            check(text(driver, "hit-ratio") == percent(stats["hit_ratio"]),
                  f"hit ratio shown: {text(driver, 'hit-ratio')!r} (/stats: {stats['hit_ratio']})")
            for q in ("p50", "p99"):
                check(text(driver, q).endswith(" ms"), f"{q} shown: {text(driver, q)!r}")
            repairs = stats["repairs_total"] > 0 or stats["repairs_pending"] > 0
            check(driver.find_element(By.ID, "repairs").is_displayed() == repairs,
                  f"the repairs section is {'shown' if repairs else 'hidden'}")
            migrations = stats["migrations"] is not None
            check(driver.find_element(By.ID, "migrations").is_displayed() == migrations,
                  f"the migrations section is {'shown' if migrations else 'hidden'} (no such counter: {not migrations})")
            errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            check(not errors, f"no errors in the browser console {errors}")
        finally:
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1400, max(900, height + 40))
            saved = driver.save_screenshot(f"{args.out}/dashboard.png")
            check(saved, f"screenshot saved: {args.out}/dashboard.png")
            with open(f"{args.out}/dashboard.txt", "w") as f:
                f.write(driver.find_element(By.TAG_NAME, "body").text + "\n")
            driver.quit()
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
