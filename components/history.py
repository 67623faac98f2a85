"""`[history]`: the print job history and totals (server.history.*), fed by the Print* events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from moonlite.component import Component
from moonlite.events import ALL, Events, Payload, on_event
from moonlite.rpc import ApiError, api

#: SQL scripts of the history tables; released entries are never edited, only appended
MIGRATIONS = [
    """
    CREATE TABLE job_history (
        job_id INTEGER PRIMARY KEY AUTOINCREMENT,
        user TEXT NOT NULL,
        filename TEXT NOT NULL,
        status TEXT NOT NULL,
        start_time REAL NOT NULL,
        end_time REAL,
        print_duration REAL NOT NULL DEFAULT 0,
        total_duration REAL NOT NULL DEFAULT 0,
        filament_used REAL NOT NULL DEFAULT 0,
        metadata TEXT NOT NULL DEFAULT '{}',
        auxiliary_data TEXT NOT NULL DEFAULT '[]',
        origin TEXT NOT NULL DEFAULT 'local',
        job_source TEXT
    );
    CREATE INDEX job_history_status ON job_history(status);
    CREATE TABLE job_totals (field TEXT PRIMARY KEY, value REAL NOT NULL)
    """,
]

COLUMNS = ("job_id", "user", "filename", "status", "start_time", "end_time", "print_duration",
           "total_duration", "filament_used", "metadata", "auxiliary_data", "origin",
           "job_source")
#: what a job record carries over the API (Moonraker's shape), in Moonraker's order
RECORD_KEYS = ("job_id", "user", "filename", "status", "start_time", "end_time",
               "print_duration", "total_duration", "filament_used", "metadata",
               "auxiliary_data", "exists")
BASE_TOTALS: dict[str, float] = {
    "total_jobs": 0, "total_time": 0.0, "total_print_time": 0.0, "total_filament_used": 0.0,
    "longest_job": 0.0, "longest_print": 0.0,
}
NO_USER = "No User"
#: the largest integer SQLite binds (a larger uid, limit or start would raise OverflowError)
SQLITE_MAX_INT = 2**63 - 1
#: the PrintFailed reasons that are job statuses of their own (anything else is "error")
FAILURE_STATUSES = {"error", "klippy_shutdown", "klippy_disconnect"}
PRINT_EVENTS = {Events.PRINT_STARTED, Events.PRINT_DONE, Events.PRINT_FAILED,
                Events.PRINT_CANCELLED}
#: metadata keys Moonraker drops from the job's copy (they describe the job, not the file)
REDUNDANT_METADATA = ("job_id", "print_start_time")


def job_uid(job_id: int) -> str:
    """Moonraker's job id: six (or more) upper-case hex digits."""
    return f"{job_id:06X}"


def parse_uid(uid: str) -> int:
    """The row id of a job uid; unknown or malformed ids are a 404 (as in Moonraker)."""
    try:
        value = int(uid, 16)
    except (TypeError, ValueError):
        raise ApiError(f"Invalid job uid: {uid}", 404) from None
    if not 0 <= value <= SQLITE_MAX_INT:
        raise ApiError(f"Invalid job uid: {uid}", 404)
    return value


def _number(value: Any, default: float = 0.0) -> float:
    """A payload number (int/float, not bool) or `default`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


class History(Component):
    """Records every print (whatever started it) from the printer's Print* events."""

    name = "history"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: the record of the job in progress (column -> value), or None
        self.current: dict[str, Any] | None = None
        self.totals: dict[str, float] = dict(BASE_TOTALS)
        self.interrupted_on_start: list[str] = []
        self._queue: asyncio.Queue[tuple[str, Payload]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    # -- lifespan -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Create the tables, mark crashed jobs interrupted, load totals, follow events."""
        db = self.host.database
        await db.migrate("history", MIGRATIONS)
        conn = db.connection
        async with conn.execute(
            "SELECT job_id FROM job_history WHERE status = 'in_progress' ORDER BY job_id"
        ) as cur:
            self.interrupted_on_start = [job_uid(row[0]) async for row in cur]
        if self.interrupted_on_start:
            await conn.execute(
                "UPDATE job_history SET status = 'interrupted' WHERE status = 'in_progress'"
            )
            await conn.commit()
            self.log.warning("jobs interrupted by the last shutdown: %s",
                             ", ".join(self.interrupted_on_start))
        async with conn.execute("SELECT field, value FROM job_totals") as cur:
            async for field, value in cur:
                if field in self.totals:
                    self.totals[field] = value
        self._worker = asyncio.create_task(self._work(), name="history-worker")
        try:
            yield
        finally:
            # events fired by components that stopped before us are still to be recorded
            with contextlib.suppress(Exception):
                await self.host.events.drain(timeout=2.0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._queue.join(), 5.0)
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            if self.current is not None:
                # moonlite stops while a job runs: the job ends with the server
                await self._finish("server_exit", {})

    # -- events ---------------------------------------------------------------------------

    @on_event(ALL)
    def _on_event(self, event: str, payload: Payload) -> None:
        # One subscription to every event, because the bus orders events per subscriber
        # only: separate PrintStarted/PrintDone subscriptions could see a start after its
        # finish. Synchronous and cheap, so it never falls behind the bus.
        if event in PRINT_EVENTS:
            self._queue.put_nowait((event, payload))

    async def _work(self) -> None:
        while True:
            event, payload = await self._queue.get()
            try:
                await self._handle(event, payload)
            except Exception:
                self.log.exception("history: cannot record %s", event)
            finally:
                self._queue.task_done()

    async def settled(self) -> None:
        """Wait until every Print* event received so far is recorded (tests, tools)."""
        await self._queue.join()

    async def _handle(self, event: str, payload: Payload) -> None:
        if event == Events.PRINT_STARTED:
            await self._start(payload)
        elif event == Events.PRINT_DONE:
            await self._finish("completed", payload)
        elif event == Events.PRINT_CANCELLED:
            await self._finish("cancelled", payload)
        elif event == Events.PRINT_FAILED:
            reason = payload.get("reason")
            await self._finish(reason if reason in FAILURE_STATUSES else "error", payload)

    async def _metadata(self, filename: str, origin: str) -> dict[str, Any]:
        files = self.host.get_component("file_manager")
        getter = getattr(files, "get_metadata", None)
        if origin != "local" or getter is None:
            return {}
        try:
            found = await getter(filename)
        except Exception as exc:
            self.log.debug("no metadata for %s: %s", filename, exc)
            return {}
        if not isinstance(found, dict):
            return {}
        metadata = {k: v for k, v in found.items() if k not in REDUNDANT_METADATA}
        thumbs = metadata.get("thumbnails")
        if isinstance(thumbs, list):
            metadata["thumbnails"] = [
                {k: v for k, v in t.items() if k != "data"} if isinstance(t, dict) else t
                for t in thumbs
            ]
        return metadata

    async def _start(self, payload: Payload) -> None:
        if self.current is not None:
            # a new job while one is recorded as running: the old one was cancelled
            await self._finish("cancelled", {})
        origin = str(payload.get("origin") or "local")
        filename = str(payload.get("path") or payload.get("name") or "")
        user = payload.get("user")
        job: dict[str, Any] = {
            "job_id": None,
            "user": user if isinstance(user, str) and user else NO_USER,
            "filename": filename,
            "status": "in_progress",
            "start_time": time.time(),
            "end_time": None,
            "print_duration": 0.0,
            "total_duration": 0.0,
            "filament_used": 0.0,
            "metadata": await self._metadata(filename, origin),
            "auxiliary_data": [],
            "origin": origin,
            "job_source": payload.get("job_source"),
        }
        async with self._lock:
            job["job_id"] = await self._save(job)
            self.current = job
        self.log.info("job %s started: %s (%s)", job_uid(job["job_id"]), filename, origin)
        await self._mark_file(job)
        await self._notify("added", job)

    async def _finish(self, status: str, payload: Payload) -> None:
        job = self.current
        if job is None:
            self.log.debug("%s without a recorded job in progress: ignored", status)
            return
        now = time.time()
        job["status"] = status
        job["end_time"] = now
        wall = max(0.0, now - job["start_time"])
        job["total_duration"] = _number(payload.get("total_duration"), wall)
        job["print_duration"] = _number(payload.get("print_duration"),
                                        _number(payload.get("time"), job["total_duration"]))
        job["filament_used"] = _number(payload.get("filament_used"), job["filament_used"])
        if not job["metadata"]:
            # upload-and-print: the metadata may only be ready now
            job["metadata"] = await self._metadata(job["filename"], job["origin"])
        async with self._lock:
            await self._save(job, commit=False)
            self._accumulate(job)
            await self._save_totals()
            self.current = None
        self.log.info("job %s finished: %s", job_uid(job["job_id"]), status)
        await self._notify("finished", job)

    async def _mark_file(self, job: dict[str, Any]) -> None:
        """Tell the files component which job last printed the file (Moonraker keeps `job_id`
        and `print_start_time` in the file's metadata); optional on its side."""
        files = self.host.get_component("file_manager")
        update = getattr(files, "update_metadata", None)
        if job["origin"] != "local" or not callable(update):
            return
        try:
            await update(job["filename"], {"job_id": job_uid(job["job_id"]),
                                           "print_start_time": job["start_time"]})
        except Exception as exc:
            self.log.debug("cannot mark %s with its job: %s", job["filename"], exc)

    def _accumulate(self, job: dict[str, Any]) -> None:
        totals = self.totals
        totals["total_jobs"] += 1
        totals["total_time"] += job["total_duration"]
        totals["total_print_time"] += job["print_duration"]
        totals["total_filament_used"] += job["filament_used"]
        totals["longest_job"] = max(totals["longest_job"], job["total_duration"])
        totals["longest_print"] = max(totals["longest_print"], job["print_duration"])

    async def _notify(self, action: str, job: dict[str, Any]) -> None:
        record = await self._records([job])
        self.host.notify("notify_history_changed", {"action": action, "job": record[0]})

    # -- storage --------------------------------------------------------------------------

    async def _save(self, job: dict[str, Any], commit: bool = True) -> int:
        """Insert or replace the row of `job`; committed before returning unless told not."""
        values = [json.dumps(job[c]) if c in ("metadata", "auxiliary_data") else job[c]
                  for c in COLUMNS]
        conn = self.host.database.connection
        cur = await conn.execute(
            f"REPLACE INTO job_history({', '.join(COLUMNS)}) "
            f"VALUES({', '.join('?' * len(COLUMNS))})", values,
        )
        row_id = job["job_id"] if job["job_id"] is not None else cur.lastrowid
        await cur.close()
        if commit:
            await conn.commit()
        if row_id is None:
            raise RuntimeError("job_history insert returned no row id")
        return int(row_id)

    async def _save_totals(self) -> None:
        conn = self.host.database.connection
        await conn.executemany(
            "REPLACE INTO job_totals(field, value) VALUES(?, ?)", list(self.totals.items())
        )
        await conn.commit()

    def _gcodes_root(self) -> Path:
        files = self.host.get_component("file_manager")
        root = getattr(files, "gcodes_root", None)
        return Path(root) if root is not None else self.host.paths.gcodes

    @staticmethod
    def _file_exists(root: Path, filename: str, modified: Any) -> bool:
        """Whether `filename` is still in the gcodes root, unchanged since the job's metadata."""
        if not filename or "\x00" in filename:
            return False
        try:
            root = root.resolve()
            path = (root / filename).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                return False
            if isinstance(modified, int | float) and not isinstance(modified, bool):
                return abs(path.stat().st_mtime - modified) < 1e-3
        except OSError:
            return False
        return True

    async def _records(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """API records of stored jobs (the `exists` check runs in a worker thread)."""
        root = self._gcodes_root()
        checks = [(j["filename"], j["metadata"].get("modified")
                   if isinstance(j["metadata"], dict) else None) for j in jobs]
        exists = await self.host.run_in_thread(
            lambda: [self._file_exists(root, name, mtime) for name, mtime in checks]
        )
        records = []
        for job, present in zip(jobs, exists, strict=True):
            record = {**job, "job_id": job_uid(job["job_id"]), "exists": present}
            records.append({k: record[k] for k in RECORD_KEYS})
        return records

    async def _select(self, where: str = "", values: tuple[Any, ...] = (),
                      tail: str = "") -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(COLUMNS)} FROM job_history {where} {tail}"
        async with self.host.database.connection.execute(sql, values) as cur:
            rows = await cur.fetchall()
        jobs = []
        for row in rows:
            job = dict(zip(COLUMNS, row, strict=True))
            job["metadata"] = json.loads(job["metadata"] or "{}")
            job["auxiliary_data"] = json.loads(job["auxiliary_data"] or "[]")
            jobs.append(job)
        return jobs

    # -- API ------------------------------------------------------------------------------

    @api("server.history.list")
    async def list_jobs(self, start: int = 0, limit: int = 50, before: float | None = None,
                        since: float | None = None, order: str = "desc") -> dict[str, Any]:
        """Jobs by id: `limit` from `start` (`limit` < 1: all), `since`/`before` filter on
        start/end time, `order` "asc" or "desc"."""
        direction = order.upper()
        if direction not in ("ASC", "DESC"):
            raise ApiError(f"Invalid `order` value: {order}", 400)
        clauses: list[str] = []
        values: list[Any] = []
        if before is not None:
            clauses.append("end_time < ?")
            values.append(before)
        if since is not None:
            clauses.append("start_time > ?")
            values.append(since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = f"ORDER BY job_id {direction}"
        if limit > 0:
            tail += " LIMIT ? OFFSET ?"
            values.extend((min(limit, SQLITE_MAX_INT), min(max(0, start), SQLITE_MAX_INT)))
        jobs = await self._records(await self._select(where, tuple(values), tail))
        return {"count": len(jobs), "jobs": jobs}

    @api("server.history.get_job")
    async def get_job(self, uid: str) -> dict[str, Any]:
        """One job by its uid."""
        jobs = await self._select("WHERE job_id = ?", (parse_uid(uid),))
        if not jobs:
            raise ApiError(f"Invalid job uid: {uid}", 404)
        return {"job": (await self._records(jobs))[0]}

    @api("server.history.delete_job", "DELETE")
    async def delete_job(self, uid: str | None = None, all: bool = False) -> dict[str, Any]:
        """Delete one job (`uid`) or every job (`all=true`); totals are kept."""
        conn = self.host.database.connection
        async with self._lock:
            if all:
                async with conn.execute("SELECT job_id FROM job_history ORDER BY job_id") as cur:
                    deleted = [job_uid(row[0]) async for row in cur]
                await conn.execute("DELETE FROM job_history")
                await conn.commit()
                return {"deleted_jobs": deleted}
            if uid is None:
                raise ApiError("No data for argument: uid", 400)
            cur = await conn.execute("DELETE FROM job_history WHERE job_id = ?",
                                     (parse_uid(uid),))
            count = cur.rowcount
            await cur.close()
            await conn.commit()
        if count < 1:
            raise ApiError(f"Invalid job uid: {uid}", 404)
        return {"deleted_jobs": [uid]}

    @api("server.history.totals")
    async def get_totals(self) -> dict[str, Any]:
        """Totals over every finished job since the last reset."""
        return {"job_totals": self._totals_out(), "auxiliary_totals": []}

    @api("server.history.reset_totals", "POST")
    async def reset_totals(self) -> dict[str, Any]:
        """Zero the totals (refused while a job is in progress); returns the previous ones."""
        if self.current is not None:
            raise ApiError("Job in progress, cannot reset totals", 400)
        async with self._lock:
            last = self._totals_out()
            self.totals = dict(BASE_TOTALS)
            await self._save_totals()
        return {"last_totals": last, "last_auxiliary_totals": []}

    def _totals_out(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.totals)
        out["total_jobs"] = int(out["total_jobs"])
        return out


COMPONENT = History
