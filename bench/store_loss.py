"""Store loss under a running daemon: delete the SQLite file, post 30 signed webhooks, restart.

Prints how many of the 30 were acknowledged, whether the daemon stopped by itself, and how many acknowledged
webhooks the store holds after a restart. Run it against this checkout, or another one's interpreter and folder:

    python -m bench.store_loss [--python DIR/.venv/bin/python --cwd DIR]

Measured 2026-11-30 (2-core Xeon): the first version (9993736) acknowledged 30 of 30 and kept none; now 0 of 30
are acknowledged (503, then the daemon exits 1 naming the file), so none is lost.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.common import machine
from tests.support import hand_over, reserved_port

KEY = "k-bench-store-loss-2b7f"


def post(url: str, ident: int) -> int | str:
    sent_at = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    event = {"trigger_type": "order_paid", "triggerable_type": "order", "triggerable_id": ident}
    body = json.dumps({"event": event, "rule_id": 1, "tenant_id": 42, "sent_at": sent_at}).encode()
    signature = hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Signature": signature}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError as exc:
        return type(exc).__name__


def start(python: str, cwd: str, config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [python, "-m", "router", "serve", "-c", str(config)], cwd=cwd, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
            return proc
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the daemon did not start; see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the build to measure")
    parser.add_argument("--cwd", default=".", help="the checkout to run it from")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="store-loss-"))
    port = reserved_port()
    hand_over(port)
    db, config = folder / "router.db", folder / "config.yaml"
    config.write_text(
        f'version: 1\nserver: {{listen: "127.0.0.1:{port}"}}\n'
        f'plugandpay: {{api_url: "http://127.0.0.1:9", webhook_key: "{KEY}"}}\n'
        f'store: {{url: "sqlite:///{db}"}}\nrules: []\n'
    )
    url = f"http://127.0.0.1:{port}/webhooks/plugandpay"
    proc = start(args.python, args.cwd, config, port, folder / "daemon.log")
    before = [post(url, ident) for ident in range(1, 11)]
    for path in folder.glob("router.db*"):
        path.unlink()
    after = [post(url, ident) for ident in range(100, 130)]
    time.sleep(1)
    stopped = proc.poll()
    if stopped is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    proc = start(args.python, args.cwd, config, port, folder / "daemon.log")
    kept = 0
    if db.exists():
        kept = sqlite3.connect(db).execute("SELECT count(*) FROM events WHERE triggerable_id >= '100'").fetchone()[0]
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    acked = sum(1 for status in after if status in (200, 202))
    print(machine())
    print(f"before the delete: {before.count(202)} of 10 acknowledged")
    print(f"after the delete: {acked} of 30 acknowledged (answers: {sorted({str(s) for s in after})})")
    print(f"daemon stopped by itself: {stopped is not None} (exit code {stopped})")
    print(f"after a restart the store holds {kept} of the {acked} acknowledged")


if __name__ == "__main__":
    main()
