"""Estimator worker process: JSON job per stdin line, JSON answer per stdout line.

Started by the `[analysis]` component as `python -m moonlite.components.analysis.worker`, so
estimates never hold the server's event loop (or its GIL), and a job past its time limit is
ended by killing the process.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .jobs import NotGcodeError, estimate_job, process_job
from .limits import ConfigError


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job; the answer has `result`, or `error` and `status`."""
    try:
        kind = job["job"]
        if kind == "estimate":
            result = estimate_job(job["path"], job.get("config"), job.get("fallback"))
        elif kind == "process":
            result = process_job(
                job["path"], job.get("config"), job.get("fallback"), bool(job.get("force"))
            )
        else:
            return {"error": f"unknown job {kind!r}", "status": 500}
    except (ConfigError, NotGcodeError) as exc:
        return {"error": str(exc), "status": 400}
    except FileNotFoundError as exc:
        return {"error": f"File not found: {exc.filename}", "status": 404}
    except OSError as exc:
        return {"error": f"Estimator failed: {exc.strerror or exc}", "status": 500}
    except Exception as exc:  # reported to the caller; the worker stays up for the next job
        return {"error": f"Estimator failed: {exc!r}", "status": 500}
    return {"result": result}


def main() -> None:
    """Serve jobs until stdin closes."""
    for line in sys.stdin:
        try:
            job = json.loads(line)
        except json.JSONDecodeError:
            answer: dict[str, Any] = {"error": "malformed job", "status": 500}
        else:
            answer = run_job(job) if isinstance(job, dict) else {"error": "bad job", "status": 500}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
