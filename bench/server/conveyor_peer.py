"""A real `conveyor server` for the benchmark: started, given repositories, triggered, watched."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import sqlite3
import sys
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path

from services import (
    BenchError,
    Project,
    Service,
    answers,
    free_port,
    http,
    http_json,
    start_service,
    wait_until,
)

REPO_DIR = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "bench-password-123"
FINISHED = ("success", "failure", "cancelled", "skipped")


@dataclass
class ConveyorServer:
    service: Service
    url: str
    data: Path
    token: str = ""
    secrets: dict[str, str] = field(default_factory=dict)

    name = "conveyor"

    @classmethod
    def start(cls, root: Path, workers: int | None, python: str = sys.executable,
              timeout_seconds: float = 60.0, profile_to: Path | None = None,
              sandbox: bool = True, env_extra: dict[str, str] | None = None) -> ConveyorServer:
        """With `profile_to`, the server runs under bench/profiling.py (cProfile, every
        thread) and writes its statistics there when it stops. `workers` None: no embedded
        workers (`--no-workers`, jobs go to `conveyor worker` processes)."""
        data = root / "conveyor-data"
        data.mkdir(parents=True)
        port = free_port()
        env = {name: value for name, value in os.environ.items()
               if not name.startswith("CONVEYOR_") and name != "DJANGO_SETTINGS_MODULE"}
        env.update(CONVEYOR_ADMIN_PASSWORD=ADMIN_PASSWORD, NO_COLOR="1", **(env_extra or {}))
        launcher = ["-m", "conveyor"]
        if profile_to is not None:
            launcher = [str(REPO_DIR / "bench" / "profiling.py"), str(profile_to)]
        command = [python, *launcher, "server", "--host", "127.0.0.1",
                   "--port", str(port), "--data", str(data),
                   *(["--no-workers"] if workers is None else ["--workers", str(workers)])]
        if not sandbox:
            command.append("--no-sandbox")
        service = start_service("conveyor server", command, REPO_DIR, env,
                                root / "conveyor-server.log")
        server = cls(service, f"http://127.0.0.1:{port}", data)

        def up() -> bool:
            service.check_alive()
            return answers(f"{server.url}/healthz")

        try:
            wait_until(up, timeout_seconds, "conveyor server to answer /healthz", 0.05)
            server.token = server._issue_token()
        except BaseException:
            service.stop()
            raise
        return server

    def _issue_token(self) -> str:
        credentials = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
        answer = http_json("POST", f"{self.url}/api/tokens", {"name": "bench"},
                           {"Authorization": f"Basic {credentials}"})
        return answer["token"]

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def add_repository(self, project: Project) -> None:
        """Register the bare repository: the server installs its post-receive hook."""
        answer = http_json("POST", f"{self.url}/api/repositories",
                           {"name": project.name, "url": str(project.bare)}, self._auth())
        self.secrets[project.name] = answer["webhook_secret"]

    def trigger_push(self, project: Project, branch: str, sha: str) -> None:
        """A signed generic-webhook delivery of a push of `sha` to `branch`."""
        body = json.dumps({"event": "push", "ref": f"refs/heads/{branch}", "sha": sha,
                           "delivery": str(uuid.uuid4())}).encode()
        signature = hmac.new(self.secrets[project.name].encode(), body, hashlib.sha256)
        status, answer = http("POST", f"{self.url}/hooks/generic/{project.name}", body, {
            "Content-Type": "application/json",
            "X-Conveyor-Signature": f"sha256={signature.hexdigest()}",
        })
        if status != 200 or b'"accepted"' not in answer:
            raise BenchError(f"conveyor webhook for {branch}: HTTP {status}: {answer[:300]!r}")

    def _query(self, sql: str, *parameters: object) -> list[tuple]:
        # Read-only, so the benchmark never takes a write lock the server wants.
        uri = f"file:{self.data / 'conveyor.sqlite3'}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=10) as database:
            return database.execute(sql, parameters).fetchall()

    def finished_runs(self, branch_prefix: str) -> tuple[int, int]:
        """(finished, succeeded) runs on branches starting with `branch_prefix`."""
        marks = ",".join("?" * len(FINISHED))
        rows = self._query(
            f"select status, count(*) from runs_run where ref like ? and status in ({marks}) "
            "group by status", f"refs/heads/{branch_prefix}%", *FINISHED)
        counts = dict(rows)
        return sum(counts.values()), counts.get("success", 0)

    def last_run(self, project: Project) -> tuple[str, str, int]:
        """(status, run url path, number) of the newest run of `project`'s repository."""
        rows = self._query(
            "select r.status, r.number from runs_run r join repos_repository p "
            "on r.repository_id = p.id where p.name = ? order by r.number desc limit 1",
            project.name)
        if not rows:
            return "none", "", 0
        status, number = rows[0]
        return status, f"/api/repositories/{project.name}/runs/{number}", number

    def step_log_path(self, project: Project, number: int) -> str:
        """The API path of the first step's whole log (`log.txt`) of run `number`."""
        run = http_json("GET", f"{self.url}/api/repositories/{project.name}/runs/{number}",
                        headers=self._auth())
        job = run["jobs"][0]
        return f"/api/repositories/{project.name}/runs/{number}/jobs/{job['id']}/steps/0/log.txt"

    def stream_bytes(self, path: str, chunk_bytes: int = 1 << 16) -> int:
        """Download `path` in chunks, keeping none of it; the number of bytes received."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        request = urllib.request.Request(f"{self.url}{path}", headers=self._auth())
        received = 0
        with opener.open(request, timeout=300) as response:
            while chunk := response.read(chunk_bytes):
                received += len(chunk)
        return received

    def browser_session(self) -> urllib.request.OpenerDirector:
        """An opener logged in through the login form, with its cookies, as a browser is."""
        cookies = CookieJar()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPCookieProcessor(cookies))
        with opener.open(f"{self.url}/login/", timeout=30) as response:
            page = response.read().decode()
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if found is None:
            raise BenchError("the login page has no CSRF token field")
        form = urllib.parse.urlencode({"username": "admin", "password": ADMIN_PASSWORD,
                                       "csrfmiddlewaretoken": found.group(1)}).encode()
        request = urllib.request.Request(f"{self.url}/login/", data=form,
                                         headers={"Referer": f"{self.url}/login/"})
        with opener.open(request, timeout=30) as response:
            response.read()
        if not any(cookie.name == "sessionid" for cookie in cookies):
            raise BenchError("logging in through /login/ gave no session")
        return opener

    def follow_live_page(self, opener: urllib.request.OpenerDirector, project: Project,
                         number: int, timeout_seconds: float) -> LiveFollow:
        """Read the run page's live stream (Server-Sent Events) until its `end` event,
        counting what arrives and keeping only the last log event."""
        started = time.perf_counter()
        url = f"{self.url}/repos/{project.name}/runs/{number}/events"
        received = log_events = 0
        event, last_log, status = "", "", ""
        with opener.open(url, timeout=timeout_seconds) as response:
            for raw in response:
                received += len(raw)
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if line.startswith("event: "):
                    event = line[len("event: "):]
                elif line.startswith("data: ") and event == "log":
                    log_events += 1
                    last_log = line[len("data: "):]
                elif line.startswith("data: ") and event == "end":
                    status = json.loads(line[len("data: "):]).get("status", "")
                    break
                if time.perf_counter() - started > timeout_seconds:
                    break
        last_line = json.loads(last_log)["lines"][-1]["n"] if last_log else 0
        return LiveFollow(received, log_events, last_line, status,
                          time.perf_counter() - started)

    def stop(self) -> None:
        self.service.stop()


@dataclass(frozen=True)
class LiveFollow:
    """What a browser watching a run's page live received."""

    bytes_received: int
    log_events: int
    last_line: int  # the highest log line number it was sent
    end_status: str  # the run's status in the `end` event; empty if it never came
    seconds: float
