"""The unit explorer in a real browser: JupyterLab headless on a free port of 127.0.0.1, Debian's chromium and
chromium-driver driven by selenium. The test opens notebook 02 with the quick parameters, runs all its cells,
moves the unit selector and checks that the figure changes; it stops the server.

It needs `make reproduce-quick`'s runs (build/quick-runs; the executed-notebook checks run after it, so it is
marked ``executed``) and the browser: `.ci/run` installs chromium and chromium-driver when missing; elsewhere the
test skips and says how to install them.
"""

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from lab_server import free_port, start_lab, stop

from mdeinterp.reproduce import ROOT

pytestmark = [pytest.mark.executed, pytest.mark.server, pytest.mark.slow]

RUNS = ROOT / "build" / "quick-runs"
NOTEBOOK = ROOT / "notebooks" / "02_selectivity.ipynb"
INSTALL = "apt-get update && apt-get install -y chromium chromium-driver (Debian; .ci/run does this), and pip install selenium"
RUN_TIMEOUT = 300  # s: the whole test took 52-58 s on two shared cores


def browser() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip(f"no chromium / chromedriver on PATH: install them with {INSTALL}")
    pytest.importorskip("selenium", reason=f"selenium is not installed: {INSTALL}")
    return chromium, driver


def quick_copy(folder: Path) -> str:
    """Write notebook 02 with the quick parameters injected after its parameters cell (as papermill does); return its name."""
    if not all((RUNS / name / "done").exists() for name in ("base_s0", "interp_s0")):
        subprocess.run([sys.executable, "-m", "mdeinterp.reproduce", "--quick", "--figures",
                        str(ROOT / "build" / "quick-figures")], cwd=ROOT, check=True)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = (f"FIGURES = {str(folder / 'figures')!r}\nSCALE = 'quick'\nRUNS = {str(RUNS)!r}\n"
                "EXPLORER_IMAGES = 4\n")
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}))
    nbformat.write(nb, folder / "02_quick.ipynb")
    return "02_quick.ipynb"


def accept_dialog(driver) -> bool:
    """Click the accept button of an open JupyterLab dialog (e.g. "Select Kernel"); return whether there was one."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    buttons = driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog .jp-Dialog-button.jp-mod-accept")
    try:
        for button in buttons:
            button.click()
    except WebDriverException:
        return False
    return bool(buttons)


def test_unit_explorer_redraws_when_the_unit_selector_moves(tmp_path):
    chromium, driver_path = browser()
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import Select, WebDriverWait

    name = quick_copy(tmp_path)
    port, token = free_port(), "mdeinterp-browser-test"
    server = start_lab(tmp_path, port, token, tmp_path)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1200"):
        options.add_argument(flag)
    driver = None
    started = time.monotonic()
    try:
        deadline = time.monotonic() + 90
        while True:  # the server answers once it listens
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not listen within 90 s"
                time.sleep(0.5)
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        driver.get(f"http://127.0.0.1:{port}/lab/tree/{name}?token={token}")
        wait = WebDriverWait(driver, 120)
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Cell")))
        wait.until(lambda d: "Idle" in d.find_element(By.CSS_SELECTOR, ".jp-StatusBar-Widget, #jp-main-statusbar").text
                   or accept_dialog(d))
        wait.until(ready.element_to_be_clickable(
            (By.XPATH, "//div[contains(@class, 'lm-MenuBar-itemLabel') and text()='Run']"))).click()
        wait.until(ready.element_to_be_clickable(
            (By.XPATH, "//li[contains(@class, 'lm-Menu-item')]//div[text()='Run All Cells']"))).click()

        # the explorer replaces its figure when redrawn: an element found a moment ago may be gone, so look again
        running = WebDriverWait(driver, RUN_TIMEOUT, ignored_exceptions=(StaleElementReferenceException,))
        # JupyterLab may still ask which kernel to use: accept its default (the notebook's python3)
        running.until(lambda d: accept_dialog(d) and False
                      or (d.find_elements(By.CSS_SELECTOR, ".mdeinterp-figure img") or [False])[0])
        first = running.until(lambda d: d.find_element(By.CSS_SELECTOR, ".mdeinterp-figure img").get_attribute("src"))
        assert first.startswith("data:image/png") or first.startswith("blob:")
        selector = Select(driver.find_element(By.CSS_SELECTOR, ".mdeinterp-unit select"))
        before = selector.first_selected_option.text
        assert before.startswith("unit ") and " m" in before
        selector.select_by_index(1)
        def sources(d) -> list[str]:
            return [img.get_attribute("src") for img in d.find_elements(By.CSS_SELECTOR, ".mdeinterp-figure img")]

        # one figure, and not the first one: the new figure replaced the old one
        running.until(lambda d: len(sources(d)) == 1 and sources(d)[0] != first)
        chosen = running.until(lambda d: Select(d.find_element(By.CSS_SELECTOR, ".mdeinterp-unit select"))
                               .first_selected_option.text)
        assert chosen != before
        errors = driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        assert [e.text for e in errors if "Traceback" in e.text] == []
    finally:
        if driver is not None:
            driver.save_screenshot(str(tmp_path / "screen.png"))  # what the browser showed last, for a failure
            driver.quit()
        stop(server)
        print(f"browser test: {time.monotonic() - started:.0f} s")
    assert server.returncode is not None
