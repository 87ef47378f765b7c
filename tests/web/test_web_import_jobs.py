"""Imports from the web run as jobs on the worker (issue 18 item 4, issue 19 item 7): the page
answers at once with the job's progress, a real huey consumer (``customer-flow worker``, on a
SQLite or a Redis queue) runs the preview and the import, all or nothing and exactly once,
and a job that keeps failing is retried, ended on its page and kept for admins."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from customer_flow.data import staging
from customer_flow.data.report import ImportOptions
from customer_flow.hub import Hub
from customer_flow.store.schema import import_jobs
from customer_flow.worker import make_queue

from .conftest import Team, login
from .test_web_imports_api import GOOD_AND_BAD, upload

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _worker(db_url: str, queue_url: str, **env: str) -> subprocess.Popen[bytes]:
    full = {**os.environ, "CUSTOMER_FLOW_QUEUE_URL": queue_url, "PYTHONPATH": SRC, **env}
    return subprocess.Popen(
        [sys.executable, "-m", "customer_flow", "--db", db_url, "worker"],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _stop(process: subprocess.Popen[bytes]) -> str:
    process.terminate()
    try:
        return process.communicate(timeout=30)[0].decode(errors="replace")
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[0].decode(errors="replace")


def _wait_for(check: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    """Poll ``check`` until it holds; the deadline only stops a broken run from hanging."""
    deadline = time.monotonic() + 120
    while not check():
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the worker never got there:\n{_stop(process)[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(params=["sqlite", "redis"])
def queue_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    return f"{request.getfixturevalue('redis_base')}/14"  # skips, or fails, without Redis


@pytest.fixture
def queued(team: Team, queue_url: str) -> Iterator[tuple[TestClient, str, str]]:
    """The web app on a real queue (no worker yet), an agent logged in: (client, csrf, queue)."""
    # A job carries its retries from where it is enqueued: one retry, at once.
    settings = team.hub.settings.model_copy(
        update={"queue_url": queue_url, "job_retries": 1, "job_retry_delay": 0}
    )
    queue = make_queue(settings)
    queue.flush()  # a Redis database other runs may have used
    team.client.app.state.queue = queue  # type: ignore[attr-defined]
    csrf = login(team.client, team["agent"].user.email)
    yield team.client, csrf, queue_url
    queue.flush()


def _job_path(location: str) -> str:
    assert re.fullmatch(r"/imports/jobs/\d+", location), location
    return location


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, html
    return found.group(1)


class TestWithTheWorker:
    def test_preview_and_import_run_on_the_worker(
        self, team: Team, queued: tuple[TestClient, str, str]
    ) -> None:
        """The upload answers at once with the job's page (progress, polled by HTMX); the worker
        runs the preview, then the import; the result page follows."""
        client, csrf, queue_url = queued
        r = client.post(
            "/imports/preview", data={"csrf_token": csrf}, files=upload(), follow_redirects=False
        )
        assert 303 == r.status_code, r.text
        job = _job_path(r.headers["location"])
        waiting = client.get(job)
        assert 200 == waiting.status_code
        assert "waiting for the worker" in waiting.text
        assert (
            f'hx-get="{job}/progress"' in waiting.text and 'hx-trigger="every 1s"' in waiting.text
        )
        assert '<meta http-equiv="refresh"' in waiting.text  # without JavaScript too
        fragment = client.get(f"{job}/progress")
        assert 'id="job-progress"' in fragment.text and "HX-Redirect" not in fragment.headers
        assert [] == team.hub.list_imports()

        process = _worker(team.hub.settings.database_url, queue_url)
        try:
            _wait_for(lambda: "HX-Redirect" in client.get(f"{job}/progress").headers, process)
            preview = client.get(job)
            assert "2 imported + 0 updated + 0 unchanged + 1 rejected = 3 rows read" in preview.text
            assert [] == team.hub.list_imports()  # a dry run
            started = client.post(
                "/imports/commit",
                data={"csrf_token": csrf, "upload": _hidden(preview.text, "upload")},
                follow_redirects=False,
            )
            second = _job_path(started.headers["location"])
            _wait_for(lambda: 303 == client.get(second, follow_redirects=False).status_code,
                      process)  # fmt: skip
        finally:
            _stop(process)
        result = client.get(second)
        [batch] = team.hub.list_imports()
        assert str(result.url).endswith(f"/imports/{batch.id}")
        assert "2 imported + 0 updated + 0 unchanged + 1 rejected = 3 rows read" in result.text
        assert re.search(rf'href="/imports/{batch.id}/rejects\.csv"', result.text)
        assert 2 == team.hub.count_customers()

    def test_a_job_that_keeps_failing_is_retried_then_shown_and_kept(
        self, team: Team, queued: tuple[TestClient, str, str], tmp_path: Path
    ) -> None:
        """The worker cannot read the staged upload (a folder not shared): tried again, then
        the page says so and ``worker failures`` lists it; nothing is imported."""
        client, csrf, queue_url = queued
        r = client.post(
            "/imports/preview", data={"csrf_token": csrf}, files=upload(), follow_redirects=False
        )
        job = _job_path(r.headers["location"])
        for staged in (tmp_path / "imports" / "uploads").iterdir():
            (staged / "file" / "people.csv").unlink()
        process = _worker(
            team.hub.settings.database_url,
            queue_url,
            CUSTOMER_FLOW_JOB_RETRIES="1",
            CUSTOMER_FLOW_JOB_RETRY_DELAY="0",
        )
        try:
            _wait_for(lambda: bool(team.hub.list_job_failures()), process)
        finally:
            _stop(process)
        [failure] = team.hub.list_job_failures()
        assert ("import_job", 2) == (failure.job, failure.attempts)
        assert "must share the import folder" in failure.error
        page = client.get(job)
        assert "failed after 2 tries" in page.text and "must share the import folder" in page.text
        assert [] == team.hub.list_imports()
        listed = client.get("/api/v1/mail/job-failures", headers=team["admin"].headers)
        assert [("import_job", 2)] == [(f["job"], f["attempts"]) for f in listed.json()]
        assert listed.json()[0]["failed_at"].endswith("Z") or "+" in listed.json()[0]["failed_at"]
        agent_may_not = client.get("/api/v1/mail/job-failures", headers=team["agent"].headers)
        assert 403 == agent_may_not.status_code


def _stage(tmp_path: Path, user_id: int, body: str = GOOD_AND_BAD) -> staging.Staged:
    source = tmp_path / "people.csv"
    source.write_text(body, encoding="utf-8")
    with source.open("rb") as handle:
        return staging.stage(tmp_path / "imports", handle, "people.csv", user_id)


class TestTheJobItself:
    """``Hub.run_import_job`` as the worker calls it, without a queue."""

    def _start(self, team: Team, staged: staging.Staged, kind: str, **options: object) -> int:
        agent = team.hub.for_user(team["agent"].user)
        opts = ImportOptions(rejects_path=staged.import_rejects, **options)  # type: ignore[arg-type]
        job = agent.start_import_job(kind, staged.folder, staged.name, opts, lambda _id: None)  # type: ignore[arg-type]
        assert "queued" == job.status
        return job.id

    def test_an_import_job_imports_once_however_often_it_runs(
        self, team: Team, tmp_path: Path
    ) -> None:
        """A retried job (the worker killed after the commit) finds its job done: one batch,
        written as the user who started it, with its report and progress kept."""
        staged = _stage(tmp_path, team["agent"].user.id)
        job_id = self._start(team, staged, "import")
        worker = Hub(team.hub.settings, actor="worker")
        job = worker.run_import_job(job_id)
        assert ("done", 3, 3) == (job.status, job.rows_done, job.rows_total)
        [batch] = team.hub.list_imports()
        assert (batch.id, team["agent"].user.email) == (job.batch_id, batch.actor)
        assert job.report is not None and 2 == job.report["imported"]
        again = worker.run_import_job(job_id)
        assert ("done", batch.id) == (again.status, again.batch_id)
        assert 1 == len(team.hub.list_imports()) and 2 == team.hub.count_customers()

    def test_a_refused_import_ends_its_job_at_once_and_writes_nothing(
        self, team: Team, tmp_path: Path
    ) -> None:
        """Past max errors: the file's problem, not the place's, so no retry; the message says
        why, without the staging folder's path."""
        staged = _stage(tmp_path, team["agent"].user.id)
        job_id = self._start(team, staged, "import", max_errors=0)
        job = Hub(team.hub.settings, actor="worker").run_import_job(job_id, final=False)
        assert ("failed", 422, 1) == (job.status, job.error_status, job.attempts)
        assert job.error is not None and "more than 0 rows rejected" in job.error
        assert staged.token not in job.error
        assert [] == team.hub.list_imports() and 0 == team.hub.count_customers()

    def test_only_its_owner_or_an_admin_sees_a_job(self, team: Team, tmp_path: Path) -> None:
        from customer_flow.core.errors import NotFoundError

        staged = _stage(tmp_path, team["agent"].user.id)
        job_id = self._start(team, staged, "preview")
        assert job_id == team.hub.for_user(team["admin"].user).get_import_job(job_id).id
        with pytest.raises(NotFoundError):
            team.hub.for_user(team["agent2"].user).get_import_job(job_id)

    def test_a_queue_that_is_down_ends_the_job_and_says_so(
        self, team: Team, tmp_path: Path
    ) -> None:
        from customer_flow.core.errors import StorageError

        staged = _stage(tmp_path, team["agent"].user.id)
        agent = team.hub.for_user(team["agent"].user)

        def down(_id: int) -> None:
            raise ConnectionError("Redis refused the connection")

        with pytest.raises(StorageError, match="job queue is not available"):
            agent.start_import_job("preview", staged.folder, staged.name, ImportOptions(), down)
        with team.hub.store.read() as conn:
            [job_id] = conn.execute(select(import_jobs.c.id)).scalars().all()
        job = agent.get_import_job(job_id)
        assert ("failed", 503) == (job.status, job.error_status)
        assert job.error is not None and "Redis refused the connection" in job.error
