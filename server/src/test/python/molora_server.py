"""Starts and stops a real `./molora serve` on the committed testbed family, for the client tests and the load test.

The server is the project's own launcher (it finds the JDK and the native build, and builds the jars when the sources
changed); `--port 0` lets the OS pick a free port, read back from the line `molora: listening on http://HOST:PORT`.
"""

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]          # server/src/test/python -> the checkout
FAMILY = ROOT / "models" / "testbed"
BASE = FAMILY / "testbed-base.gguf"
BASE_ID = "testbed-base"                             # the model file name without .gguf (llama-server's default alias)
DOMAINS = ("code", "prose", "math")
LISTENING = re.compile(r"molora: listening on (http://\S+?:(\d+))\s*$")


def adapter(domain):
    return FAMILY / f"testbed-lora-{domain}.gguf"


def router():
    """The family's learned router, chosen as `molora demo` chooses it (cli TestbedFamily.router): of the routers
    routers.json marks as chosen, the one with the lower NLL on the valid split's mixed lines."""
    r = json.loads((FAMILY / "routers.json").read_text())
    best = min(r["chosen"].values(), key=lambda name: r["tried"][name]["valid_mixed_nll_per_token"])
    return FAMILY / f"router-{r['tried'][best]['kind']}.gguf"


def family_args():
    """-m, the three --lora NAME=PATH and --router: the same family for the server and for `molora complete`."""
    args = ["-m", str(BASE)]
    for d in DOMAINS:
        args += ["--lora", f"{d}={adapter(d)}"]
    return args + ["--router", str(router())]


class Server:
    """One `./molora serve` process. Use as a context manager; `url` is http://HOST:PORT, `pid` the JVM's pid (the
    launcher execs java, so the process started here is the server itself)."""

    def __init__(self, *extra, start_timeout=600, java_opts=None):
        self.env = dict(os.environ, **({"MOLORA_JAVA_OPTS": java_opts} if java_opts else {}))
        self.cmd = [str(ROOT / "molora"), "serve", *family_args(), "--port", "0", *extra]
        self.start_timeout = start_timeout
        self.proc = None
        self.url = None
        self.lines = []          # everything the server wrote to stderr (and stdout), for failure messages

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1, env=self.env)
        found = threading.Event()

        def drain():  # reads the output for as long as the server runs, so it never blocks on a full pipe
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                m = LISTENING.search(line)
                if m and not found.is_set():
                    self.url = m.group(1)
                    found.set()
            found.set()

        threading.Thread(target=drain, daemon=True).start()
        deadline = time.monotonic() + self.start_timeout
        while not found.wait(0.2):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"molora serve did not report listening within {self.start_timeout} s:\n"
                                   + self.log())
        if self.url is None:
            self.stop()
            raise RuntimeError("molora serve exited before listening (exit "
                               + str(self.proc.poll()) + "):\n" + self.log())
        return self

    @property
    def pid(self):
        return self.proc.pid

    def log(self, last=60):
        return "\n".join(self.lines[-last:])

    def rss_kib(self):
        """The server's resident set size (VmRSS) from /proc, in KiB; None once it has exited."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def stop(self, timeout=60):
        """SIGTERM, then the exit code (SIGKILL after `timeout` s, reported as such)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"molora serve ignored SIGTERM for {timeout} s:\n" + self.log())

    def __exit__(self, *exc):
        self.stop()


def run_complete(requests, out_dir, *extra, timeout=1200):
    """Runs `./molora complete` on the testbed family over JSONL requests (dicts with custom_id); returns
    ({custom_id: record}, stderr)."""
    out_dir = Path(out_dir)
    src = out_dir / "complete-in.jsonl"
    dst = out_dir / "complete-out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in requests))
    if dst.exists():
        dst.unlink()
    cmd = [str(ROOT / "molora"), "complete", *family_args(), "--progress", "none", "--no-resume", *extra,
           "-o", str(dst), str(src)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=dict(os.environ))
    if p.returncode != 0:
        raise RuntimeError(f"molora complete failed (exit {p.returncode}):\n{p.stderr[-4000:]}")
    records = {}
    for line in dst.read_text().splitlines():
        rec = json.loads(line)
        records[rec["custom_id"]] = rec
    return records, p.stderr
