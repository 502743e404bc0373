"""The worker: the jobs that run after a request has answered (how it works: ``docs/worker.md``)."""

from roko_app.worker.classifier import Classifier, ClassifierStats
from roko_app.worker.runner import DEFAULT_CONCURRENCY, JOBS, RunStats, run_jobs, run_workers
from roko_app.worker.sender import Control, Worker, WorkerStats
from roko_app.worker.throttle import LocalPacer, Pacer, RedisPacer, ThrottleUnavailable, pacer_from_config

__all__ = ["DEFAULT_CONCURRENCY", "JOBS", "Classifier", "ClassifierStats", "Control", "LocalPacer", "Pacer",
           "RedisPacer", "RunStats", "ThrottleUnavailable", "Worker", "WorkerStats", "pacer_from_config", "run_jobs",
           "run_workers"]
