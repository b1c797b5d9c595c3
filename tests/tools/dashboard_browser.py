#!/usr/bin/env python3
"""Drives a headless Chromium over the DevTools protocol for the dashboard's
browser tests. The protocol runs over --remote-debugging-pipe (file
descriptors 3 and 4, NUL-terminated JSON), so only the standard library is
needed. Every wait polls the page with a deadline; nothing sleeps to
synchronise.

  dashboard_browser.py probe CHROMIUM URL READY EXPR [URL READY EXPR]...
      For each triple in turn, in one browser: loads URL, waits until the
      JavaScript READY is true, evaluates EXPR. Prints the list of their
      values as JSON.
  dashboard_browser.py watch CHROMIUM URL TRIALS
      Loads URL, waits until the page has loaded once and prints "ready";
      then records the page's counts (leaderboard rows, curve points) at each
      of its refreshes until the leaderboard shows TRIALS trials and every one
      has finished, and prints them as JSON. Another process is expected to
      start writing the store after "ready".
Exit status 0 on success, 1 with a message on stderr when a deadline passes.
"""
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

DEADLINE_S = 90


class Browser:
    def __init__(self, chromium, url):
        self.profile = tempfile.mkdtemp(prefix="stride-chromium-")
        commands_read, self.commands = os.pipe()
        self.events, events_write = os.pipe()
        # Chromium reads commands on fd 3 and writes answers on fd 4.
        high_read = fcntl.fcntl(commands_read, fcntl.F_DUPFD, 10)
        high_write = fcntl.fcntl(events_write, fcntl.F_DUPFD, 10)

        def wire():
            os.dup2(high_read, 3)
            os.dup2(high_write, 4)

        self.process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--no-first-run", "--user-data-dir=" + self.profile, "--window-size=1400,1600", url],
            preexec_fn=wire, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in (commands_read, events_write, high_read, high_write):
            os.close(fd)
        self.buffer = b""
        self.next_id = 0
        self.session = None
        deadline = time.monotonic() + DEADLINE_S
        while self.session is None:
            targets = self.call("Target.getTargets")["targetInfos"]
            pages = [t for t in targets if t["type"] == "page"]
            if pages:
                attached = self.call("Target.attachToTarget", {"targetId": pages[0]["targetId"], "flatten": True})
                self.session = attached["sessionId"]
            elif time.monotonic() > deadline:
                raise TimeoutError("chromium opened no page")

    def call(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                chunk = os.read(self.events, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") != self.next_id:
                continue  # an event, or an answer to nothing we wait for
            if "error" in answer:
                raise RuntimeError(f"{method}: {answer['error']}")
            return answer["result"]

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                           session=self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression, what, deadline_s=DEADLINE_S):
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                if self.evaluate(expression):
                    return
            except RuntimeError:
                pass  # the page is still loading its scripts
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {deadline_s} s for {what}")
            time.sleep(0.05)  # polling period of the deadline loop, not a synchronisation

    def close(self):
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


COUNTS = """JSON.stringify({
  refreshes: Number(document.body.dataset.refreshes),
  state: document.body.dataset.state,
  trials: Number(document.getElementById('leaderboard').dataset.trials),
  finished: document.querySelectorAll('#leaderboard tbody tr:not(.unranked)').length,
  running: document.querySelectorAll('#leaderboard td.status-running').length,
  curve_trials: Number(document.getElementById('overlay').dataset.trials),
  points: Number(document.getElementById('overlay').dataset.points),
  lines: Number(document.getElementById('parallel').dataset.lines),
  log_axes: document.getElementById('parallel').dataset.logAxes,
  importance: Number(document.getElementById('importance').dataset.params)})"""


def watch(browser, trials):
    browser.wait_for("document.body && document.body.dataset.state === 'ready'", "the page's first load")
    print("ready", flush=True)
    seen, last_refresh = [], -1
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        counts = json.loads(browser.evaluate(COUNTS))
        if counts["refreshes"] != last_refresh:
            last_refresh = counts["refreshes"]
            seen.append(counts)
            if counts["trials"] == trials and counts["running"] == 0 and counts["finished"] == trials \
                    and counts["importance"] > 0:
                print(json.dumps(seen), flush=True)
                return 0
        time.sleep(0.05)  # polling period of the deadline loop
    print(json.dumps(seen), flush=True)
    print(f"the page never showed {trials} finished trials", file=sys.stderr)
    return 1


def main(argv):
    if argv[:1] == ["probe"] and (len(argv) - 2) % 3 != 0 or len(argv) < 4 or argv[0] not in ("probe", "watch"):
        print(__doc__, file=sys.stderr)
        return 2
    browser = Browser(argv[1], argv[2])
    try:
        if argv[0] == "probe":
            values = []
            for index in range(2, len(argv) - 2, 3):
                url, ready, expression = argv[index:index + 3]
                if index > 2:
                    # Mark the old page, so READY cannot be answered by it while the new one loads.
                    browser.evaluate("window.strideOldPage = true")
                    browser.call("Page.navigate", {"url": url}, session=browser.session)
                browser.wait_for(f"!window.strideOldPage && ({ready})", f"{url} to be ready")
                values.append(browser.evaluate(expression))
            print(json.dumps(values), flush=True)
            return 0
        return watch(browser, int(argv[3]))
    except (TimeoutError, RuntimeError) as error:
        print(f"dashboard_browser: {error}", file=sys.stderr)
        return 1
    finally:
        browser.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
