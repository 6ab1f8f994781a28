"""The masking sliders in a real browser: JupyterLab on localhost, headless Chromium driven by
Selenium, the notebook run with Run All, a slider moved, the button clicked, and the rendered
output checked before and after. Screenshots go to ``out/browser/`` (not committed).

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them when missing) and
``selenium``; skips with a message when the browser is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "out" / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="headless Chromium is not installed (apt-get install chromium "
                                       "chromium-driver; .ci/run does it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of masking.ipynb with the tiny preset's parameters injected."""
    import papermill as pm

    from emowb.notebook.runner import notebook_path, parameters_for

    root = tmp_path_factory.mktemp("lab")
    params = parameters_for("masking", size="tiny", workdir=root / "ws", figures_dir=root / "figs")
    pm.execute_notebook(str(notebook_path("masking")), str(root / "masking.ipynb"), parameters=params,
                        prepare_only=True, progress_bar=False)
    port, token = _free_port(), "emowb-test"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JUPYTER_CONFIG_DIR": str(root / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(root / "rt")}
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
                             "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
                             f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
                             "--ServerApp.open_browser=False", "--allow-root"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start: {(root / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield url, token, root
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1400,2200"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


def _wait(driver, cond, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Exception:  # noqa: BLE001 - the page is still changing
            pass
        time.sleep(0.5)
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / "timeout.png"))
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (screenshot out/browser/timeout.png)")


STATE_JS = """
const boxes = [...document.querySelectorAll('.widget-vbox')].filter(b => b.querySelector('.widget-slider'));
if (!boxes.length) return null;
const box = boxes[0];
const sliders = {};
for (const s of box.querySelectorAll('.widget-slider')) {
  const label = s.querySelector('.widget-label').textContent.trim();
  sliders[label] = s.querySelector('.widget-readout').textContent.trim();
}
const out = box.querySelector('.widget-output');
const status = [...box.querySelectorAll('.widget-html')].map(h => h.textContent.trim()).join(' ');
return {sliders: sliders, status: status, images: out ? out.querySelectorAll('img').length : 0,
        rows: out ? out.querySelectorAll('tbody tr').length : 0,
        table: out && out.querySelector('table') ? out.querySelector('table').innerText : ''};
"""


def _state(driver):
    return driver.execute_script(STATE_JS)


def test_sliders_and_button_in_a_real_browser(lab, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, token, root = lab
    t0 = time.time()
    browser.get(f"{url}/lab/tree/masking.ipynb?token={token}")
    _wait(browser, lambda: browser.execute_script(
        "return window.jupyterapp && jupyterapp.shell.currentWidget && "
        "jupyterapp.shell.currentWidget.sessionContext && "
        "jupyterapp.shell.currentWidget.sessionContext.session && "
        "jupyterapp.shell.currentWidget.sessionContext.session.kernel && "
        "jupyterapp.shell.currentWidget.sessionContext.session.kernel.connectionStatus === 'connected'"),
        120, "the notebook and its kernel")
    browser.execute_script("jupyterapp.commands.execute('notebook:run-all-cells')")
    before = _wait(browser, lambda: (s := _state(browser)) and "done: run 1" in s["status"] and s["images"] and s,
                   600, "Run All to render the widget and its first run")
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "1-after-run-all.png"))
    vals = {k: float(v) for k, v in before["sliders"].items() if k in ("no mask", "audio off", "video off", "random")}
    assert len(vals) == 4 and abs(sum(vals.values()) - 1) < 1e-9
    assert before["images"] == 1 and before["rows"] == 1           # the figure and one history row

    # move "no mask" by typing into its readout, as a user can
    slider = next(s for s in browser.find_elements(By.CSS_SELECTOR, ".widget-slider")
                  if s.find_element(By.CSS_SELECTOR, ".widget-label").text.strip() == "no mask")
    readout = slider.find_element(By.CSS_SELECTOR, ".widget-readout")
    readout.click()
    readout.send_keys(Keys.CONTROL, "a")
    readout.send_keys("0.4", Keys.ENTER)
    # the other sliders follow asynchronously (one kernel round trip each): wait until they settle
    moved = _wait(browser, lambda: (s := _state(browser)) and float(s["sliders"]["no mask"]) == 0.4
                  and abs(sum(float(s["sliders"][k]) for k in vals) - 1) < 1e-9 and s, 30,
                  "the sliders to rebalance (to sum to 1)")
    new = {k: float(moved["sliders"][k]) for k in vals}
    assert abs(sum(new.values()) - 1) < 1e-9
    for k in ("audio off", "video off", "random"):                 # shared in proportion
        assert abs(new[k] - vals[k] * 0.6 / (1 - vals["no mask"])) <= 1e-3
    browser.save_screenshot(str(SHOTS / "2-slider-moved.png"))

    button = next(b for b in browser.find_elements(By.CSS_SELECTOR, "button.jupyter-button")
                  if b.text.strip() == "train & evaluate")
    button.click()
    after = _wait(browser, lambda: (s := _state(browser)) and "done: run 2" in s["status"] and s["rows"] == 2 and s,
                  300, "the button's run to appear in the output area")
    browser.save_screenshot(str(SHOTS / "3-after-click.png"))
    assert after["images"] == 1 and after["table"] != before["table"]
    assert "0.4" in after["table"].splitlines()[-1]                 # the new row holds the new setting
    (SHOTS / "timing.json").write_text(json.dumps({"seconds": time.time() - t0}))
