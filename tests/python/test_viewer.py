"""The trajectory viewer (`mlgym view`): index, HTTP API, and the page in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from mlgym.runs import read_traj_info
from mlgym.viewer import TrajectoryIndex, make_server, parse_run_dir

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = SHARED / "corpus" / "trajectories"
ARTIFACTS = REPO / "tests" / "artifacts"


def corpus_or_skip() -> Path:
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{CORPUS} is missing in CI")
        pytest.skip(f"{CORPUS} not present (the corpus lives in ../shared)")
    return CORPUS


def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ignore = ARTIFACTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")  # test output, never committed
    return ARTIFACTS


def test_parse_run_dir_names():
    corpus = parse_run_dir(
        "metagen-gpt4o2__battleOfSexes__default__t-0.00__p-0.95__c-4.00__install-0"
        "__parallel_agents_run_3"
    )
    assert corpus == {
        "model": "gpt4o2",
        "task": "battleOfSexes",
        "config": "default",
        "temperature": 0.0,
        "top_p": 0.95,
        "cost_limit": 4.0,
        "suffix": "parallel_agents",
        "run": 3,
    }
    ours = parse_run_dir(
        "litellm-claude-3-5-sonnet-20240620__battleOfSexes__default__t-1.00__p-0.95__c-4.00"
        "__install-0_run_0"
    )
    assert (ours["model"], ours["task"], ours["suffix"], ours["run"]) == (
        "litellm-claude-3-5-sonnet-20240620",
        "battleOfSexes",
        "",
        0,
    )
    assert ours["temperature"] == 1.0
    human = parse_run_dir("human__blotto__default_run_2")
    assert (human["model"], human["task"], human["run"]) == ("human", "blotto", 2)
    odd = parse_run_dir("just-a-folder")
    assert odd["model"] == "just-a-folder" and odd["task"] == "" and odd["run"] is None


def test_index_reads_metadata_without_loading_files():
    corpus = corpus_or_skip()
    index = TrajectoryIndex(corpus)
    entries = index.entries
    assert len(entries) == len(list(corpus.glob("*/*.traj"))) == 61
    for entry in entries[::7]:
        full = json.loads(index.file_of(entry).read_text())
        assert read_traj_info(index.file_of(entry)) == full["info"]
        assert entry.exit_status == full["info"]["exit_status"]
        assert entry.task == index.file_of(entry).stem
    keys = [(e.folder, e.task, e.model, e.suffix, e.run) for e in entries]
    assert keys == sorted(keys)
    with_baseline = [e for e in entries if e.baseline]
    assert with_baseline and all("Score" in e.baseline or e.baseline for e in with_baseline)


def test_index_sees_new_and_running_trajectories(tmp_path):
    from mlgym.agent.trajectory import TrajectoryWriter

    index = TrajectoryIndex(tmp_path)
    assert index.entries == []
    run = tmp_path / "u" / "m__t__default__t-0.00__p-0.95__c-3.00__install-0_run_1"
    w = TrajectoryWriter(run / "t.traj")
    w.open([], {"exit_status": "", "score": []})
    w.append({"action": "ls"}, [], {"exit_status": "", "score": [{"x": 1.0}]})
    (entry,) = index.refresh()
    assert (entry.folder, entry.model, entry.run, entry.scores) == ("u", "m", 1, [{"x": 1.0}])
    w.close({"exit_status": "submitted", "score": [{"x": 2.0}]})
    (entry,) = index.refresh()
    assert entry.exit_status == "submitted"
    with pytest.raises(FileNotFoundError):
        TrajectoryIndex(tmp_path / "missing")


@pytest.fixture
def corpus_server():
    corpus = corpus_or_skip()
    server = make_server(corpus, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers.get("Content-Type", "")


def test_http_api(corpus_server):
    base = corpus_server.url
    status, body, ctype = get(base)
    assert status == 200 and b"<title>mlgym trajectories</title>" in body
    assert ctype.startswith("text/html")
    status, body, _ = get(base + "static/app.js")
    assert status == 200 and b"renderStep" in body
    status, body, _ = get(base + "api/index")
    runs = json.loads(body)["runs"]
    assert len(runs) == 61
    start = time.perf_counter()
    big = max(runs, key=lambda r: r["size"])
    status, body, _ = get(base + "api/traj?path=" + quote(big["path"]))
    assert status == 200 and json.loads(body)["info"]["exit_status"] == big["exit_status"]
    assert time.perf_counter() - start < 5
    for bad in (
        "api/traj?path=../../etc/passwd",
        "api/traj?path=",
        "static/../cli.py",
        "static/nope.js",
        "nothing",
    ):
        status, body, _ = get(base + bad)
        assert status == 404, bad


def test_view_command_serves_and_stops(tmp_path):
    corpus = corpus_or_skip()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlgym.cli", "view", str(corpus), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("Serving 61 trajectories from"), line
        url = line.rsplit(" at ", 1)[1].strip()
        status, body, _ = get(url + "api/index")
        assert status == 200 and len(json.loads(body)["runs"]) == 61
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = subprocess.run(
        [sys.executable, "-m", "mlgym.cli", "view", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "not a directory" in bad.stderr


# --------------------------------------------------------------------------- browser


def _chromium() -> tuple[str | None, str | None]:
    browser = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    driver = shutil.which("chromedriver")
    return browser, driver


@pytest.fixture
def browser(tmp_path):
    binary, driver = _chromium()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None
    if binary is None or driver is None or webdriver is None:
        if os.environ.get("CI"):
            pytest.fail(
                "chromium, chromium-driver and selenium are required in CI "
                "(.ci/install-browser.sh, pip install selenium)"
            )
        pytest.skip("headless Chromium (chromium, chromium-driver, selenium) not installed")
    profile = tmp_path / "chromium-profile"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    # As root and with the network closed, Chromium needs all of these: without the
    # networking ones it waits on connections it can never make.
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    drv = webdriver.Chrome(service=Service(driver), options=options)
    try:
        drv.set_page_load_timeout(60)
        yield drv
    finally:
        drv.quit()
        _reap_browser(str(profile))


def _browser_pids(profile: str) -> list[int]:
    """Live processes started with our (unique) Chromium profile directory."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if profile.encode() in cmdline:
                pids.append(int(entry))
    return pids


def _reap_browser(profile: str, grace_s: float = 15.0) -> None:
    """Chromium's helpers (crashpad, zygotes) outlive `quit()` by a few seconds, reparented
    away from us: wait for them, and kill what is still there after the grace period."""
    deadline = time.monotonic() + grace_s
    while _browser_pids(profile) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in _browser_pids(profile):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_page_in_headless_chromium(corpus_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 30)
    browser.get(corpus_server.url)
    wait.until(ec.text_to_be_present_in_element((By.ID, "count"), "Showing 61 trajectories"))
    buttons = browser.find_elements(By.CSS_SELECTOR, "#runs li button")
    assert len(buttons) == 61
    assert buttons[0].text.startswith("Folder: . | Task: battleOfSexes | Agent: ")

    # Search narrows the list; filters narrow it further.
    search = browser.find_element(By.ID, "search")
    search.send_keys("prisonersDilemma")
    wait.until(ec.text_to_be_present_in_element((By.ID, "count"), "Showing 12 trajectories"))
    browser.find_element(By.CSS_SELECTOR, '#filters details[data-group="model"] summary').click()
    box = browser.find_element(
        By.CSS_SELECTOR, '#filters input[data-group="model"][value="gpt4o2"]'
    )
    box.click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "count"), "Showing 8 trajectories"))
    browser.find_element(By.ID, "reset-filters").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "count"), "Showing 61 trajectories"))
    search.send_keys("prisonersDilemma" + Keys.TAB)
    wait.until(ec.text_to_be_present_in_element((By.ID, "count"), "Showing 12 trajectories"))

    # Open a run: the report and the first step appear.
    first = browser.find_elements(By.CSS_SELECTOR, "#runs li button")[0]
    path = first.get_attribute("data-path")
    first.click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "step-label"), "Step 1 / "))
    data = json.loads((corpus_server.index.root / path).read_text())
    n = len(data["trajectory"])
    assert browser.find_element(By.ID, "step-label").text == f"Step 1 / {n}"
    report = browser.find_element(By.ID, "report").text
    assert "Run Stats" in report and "Exit status" in report
    assert data["info"]["exit_status"] in report
    assert "Metric: Score" in report and "Baseline: " in report and "Attempt 1: " in report
    cost = data["info"]["model_stats"]["total_cost"]
    assert f"${cost:.2f}" in report
    assert (
        browser.find_element(By.ID, "action").text.strip()
        == data["trajectory"][0]["action"].strip()
    )

    # Step through it with the buttons and the keyboard.
    browser.find_element(By.ID, "next").click()
    browser.find_element(By.ID, "next").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "step-label"), f"Step 3 / {n}"))
    thought = browser.find_element(By.ID, "thought").text
    assert thought and not thought.startswith("DISCUSSION")
    assert (
        browser.find_element(By.ID, "action").text.strip()
        == data["trajectory"][2]["action"].strip()
    )
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
    wait.until(ec.text_to_be_present_in_element((By.ID, "step-label"), f"Step 2 / {n}"))
    assert "step=2" in browser.current_url
    path_png = artifacts_dir() / "viewer.png"
    browser.save_screenshot(str(path_png))
    assert path_png.stat().st_size > 10_000
    # The same step scrolled to the step viewer: thought, action and observation.
    browser.execute_script("document.getElementById('step-label').scrollIntoView({block: 'start'})")
    browser.save_screenshot(str(artifacts_dir() / "viewer-step.png"))

    # A large observation is collapsed until asked for.
    big = max(corpus_server.index.entries, key=lambda e: e.size)
    big_data = json.loads((corpus_server.index.root / big.path).read_text())
    k = max(
        range(len(big_data["trajectory"])),
        key=lambda i: len(big_data["trajectory"][i]["observation"] or ""),
    )
    browser.get(f"{corpus_server.url}#run={quote(big.path, safe='')}&step={k + 1}")
    browser.refresh()
    wait.until(ec.text_to_be_present_in_element((By.ID, "step-label"), f"Step {k + 1} / "))
    details = browser.find_element(By.CSS_SELECTOR, "#observation details.big-output")
    assert "Show full output" in details.text
    assert (
        browser.find_element(By.CSS_SELECTOR, "#observation pre.full").get_attribute("textContent")
        == ""
    )
    details.find_element(By.TAG_NAME, "summary").click()
    wait.until(
        lambda d: (
            len(
                d.find_element(By.CSS_SELECTOR, "#observation pre.full").get_attribute(
                    "textContent"
                )
            )
            > 4000
        )
    )
    browser.save_screenshot(str(artifacts_dir() / "viewer-large-output.png"))
