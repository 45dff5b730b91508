"""Screenshots of nlpkit runs in the MLflow UI, taken in headless Chromium.

Trains a few tiny runs into a fresh sqlite store (a 2 x 2 sweep over model and seed on the embedded corpus,
plus one run on a CSV file), starts a real ``mlflow server`` on 127.0.0.1, and has Chromium render:

* ``runs_table.png``: the experiment at the address ``nlpkit-train`` prints (model-training side, nlpkit's saved
  view): the headline metrics and the Dataset column shown, the sweep's parent run expanded (one click on its
  ``+``) into its children;
* ``run_page.png``: the best run's page (its parent, dataset inputs with digests, tags);
* ``compare_view.png``: MLflow's compare page for every run but the parent, which plots ``test/macro_f1``
  (nlpkit logs the headline metric first; the page plots the first metric the runs share).

Run from the repository root (needs ``apt-get install -y chromium``; about 2 minutes on 2 cores):

    python experiments/mlflow_ui/screenshots.py [--out experiments/mlflow_ui]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from cdp import Browser, Page  # noqa: E402  (this folder's DevTools client)

BIN = Path(sys.executable).parent
FAST = ["model.char_ngrams=false", "tracking.log_model=false"]
WINDOW = (1500, 900)
EXPANDER = "runnamecellrenderer"  # the runs table's expand (+) button in front of a parent run's name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent, help="folder for the PNGs")
    parser.add_argument("--keep", type=Path, help="keep the store in this folder (trains only if it has none yet)")
    args = parser.parse_args()
    work = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="nlpkit-ui-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        uri = f"sqlite:///{work / 'mlflow.db'}"
        parent = (work / "parent").read_text() if (work / "parent").is_file() else train_runs(work, uri)
        (work / "parent").write_text(parent)
        with mlflow_server(uri, work) as url:
            take_all(url, uri, parent, args.out)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def train_runs(work: Path, uri: str) -> str:
    """The sweep (its parent run id is read from its output) and one run on a CSV file."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_DISABLE_TELEMETRY": "true"}
    sweep = run([str(BIN / "nlpkit-train"), "-m", "model=tfidf_logreg,tfidf_svm", "seed=0,1", *FAST], work, env)
    parent = next(line.split()[-1] for line in sweep.splitlines() if line.startswith("MLflow sweep parent run: ")
                  and len(line.split()) == 5)
    csv_path = write_csv(work / "speeches.csv")
    run([str(BIN / "nlpkit-train"), "data=file", f"data.path={csv_path}", "data.columns.escalation=label", *FAST[:1]],
        work, env)
    return parent


def write_csv(path: Path) -> Path:
    """A CSV with ``text,label`` columns: the embedded corpus's training documents, as a user's own file."""
    from nlpkit.corpus import corpus_path

    rows = [json.loads(line) for line in corpus_path("newswire").read_text().splitlines() if line.strip()]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows([r["text"], r["escalation"]] for r in rows if r["split"] == "train")
    return path


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return out.stdout


class mlflow_server:
    """A real ``mlflow server`` on a free port of 127.0.0.1 over ``uri``; stopped on exit."""

    def __init__(self, uri: str, work: Path) -> None:
        self.uri, self.work = uri, work

    def __enter__(self) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
        self.proc = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", self.uri, "--artifacts-destination", str(self.work / "artifacts")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/health", timeout=1).status == 200:
                    return url
            except OSError:
                time.sleep(0.5)
        self.__exit__()
        sys.exit("mlflow server did not start within 120 s")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def take_all(url: str, uri: str, parent: str, out: Path) -> None:
    """The three screenshots, from one browser whose MLflow Assistant side panel is closed (it would cover a
    third of the window)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_run(parent).info.experiment_id
    runs = [r for r in client.search_runs([experiment], order_by=["metrics.`test/macro_f1` DESC"])
            if r.info.run_id != parent]
    out.mkdir(parents=True, exist_ok=True)
    with Browser(*WINDOW) as browser:
        asyncio.run(_shoot(browser, url, experiment, runs, out))


async def _shoot(browser: Browser, url: str, experiment: str, runs: list[Any], out: Path) -> None:
    from nlpkit.tracking_ui import view_path

    best = runs[0]
    async with Page(browser) as page:
        await page.goto(f"{url}/health")  # same origin: set the UI's local settings before the app starts
        await page.js("localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false'); "
                      "localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true')")
        await page.goto(f"{url}/{view_path(experiment)}")  # the address nlpkit-train prints
        await page.wait_for_text("sweep ")
        await expand_sweep(page, best.info.run_name)
        await save(page, out / "runs_table.png")
        await page.goto(f"{url}/#/experiments/{experiment}/runs/{best.info.run_id}?workflowType=machine_learning")
        await page.wait_for_text("Datasets")
        await save(page, out / "run_page.png")
        ids = json.dumps([r.info.run_id for r in runs], separators=(",", ":"))
        await page.goto(f"{url}/#/compare-runs?runs={ids}&experiments=[\"{experiment}\"]&workflowType=machine_learning")
        await page.wait_for_text("Parallel Coordinates Plot")
        await save(page, out / "compare_view.png")


async def expand_sweep(page: Page, child_name: str, tries: int = 10) -> None:
    """Click the sweep's ``+`` until ``child_name`` shows (the table may redraw once the saved view applies)."""
    click = f"document.querySelector('button[data-component-id*=\"{EXPANDER}\"]')?.click()"
    for _ in range(tries):
        await page.js(click)
        await asyncio.sleep(3)
        if await page.js(f"document.body.innerText.includes({json.dumps(child_name)})"):
            await asyncio.sleep(1.5)
            return
    raise SystemExit(f"the sweep's children ({child_name!r}) did not show after {tries} clicks on its +")


async def save(page: Page, png: Path) -> None:
    """Capture the window as ``png``, shrunk to a 128-colour palette when Pillow is installed (about 60 KB)."""
    await page.screenshot(png)
    try:
        from PIL import Image
    except ImportError:
        return
    Image.open(png).convert("RGB").quantize(colors=128).save(png, optimize=True)
    print(f"{png} ({png.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
