"""The per-port throttle: pacing with an injected clock, and the Redis schedule shared
by several workers. No assertion here depends on how fast the machine is."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from roko_app.worker import LocalPacer, RedisPacer, ThrottleUnavailable, Worker, pacer_from_config
from tests.factories import bulk_queue
from tests.helpers import IN_CI, REDIS_URL, free_port, outbox, redis_available, worker_config


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_slots_are_one_interval_apart_per_port() -> None:
    clock = FakeClock()
    pacer = LocalPacer(4, clock=clock)
    assert [pacer.reserve(17) for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]
    assert pacer.reserve(3) == 0.0, "each SIM port has its own schedule"
    clock.now += 0.6
    assert pacer.reserve(17) == pytest.approx(0.4)


def test_an_idle_port_builds_no_burst_credit() -> None:
    clock = FakeClock()
    pacer = LocalPacer(2, clock=clock)
    pacer.reserve(17)
    clock.now += 60
    assert [pacer.reserve(17) for _ in range(3)] == [0.0, 0.5, 1.0]


def test_a_sender_slightly_behind_catches_up_without_bursting_after_idle() -> None:
    clock = FakeClock()
    pacer = LocalPacer(20, clock=clock)  # slots 50 ms apart
    pacer.reserve(17)
    clock.now += 0.2  # a 200 ms stall: slots at 50, 100, 150, 200 ms are late
    assert [pacer.reserve(17) for _ in range(5)] == [0.0, 0.0, 0.0, 0.0, pytest.approx(0.05)]
    clock.now += 0.4  # now 300 ms behind: more than the catch-up allowance, so the schedule restarts
    assert [pacer.reserve(17) for _ in range(3)] == [0.0, pytest.approx(0.05), pytest.approx(0.1)]


def test_rate_zero_is_off() -> None:
    pacer = LocalPacer(0, clock=FakeClock())
    assert [pacer.reserve(17) for _ in range(100)] == [0.0] * 100


@pytest.mark.parametrize("rate", [0.5, 1, 7, 20, 250])
def test_a_sender_following_the_slots_sends_at_exactly_the_rate(rate: float) -> None:
    clock = FakeClock()
    pacer = LocalPacer(rate, clock=clock)
    send_times = []
    for _ in range(200):
        clock.now += pacer.reserve(17)  # wait for the slot
        send_times.append(clock.now)
        clock.now += 0.001  # the send itself
    measured = (len(send_times) - 1) / (send_times[-1] - send_times[0])
    assert measured == pytest.approx(rate, rel=1e-9)


@pytest.mark.parametrize("rate", [-1.0, float("inf"), float("nan")])
def test_a_bad_rate_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="TOPAZ_RATE_PER_PORT"):
        LocalPacer(rate)


@pytest.fixture
def redis_url() -> str:
    if not redis_available():
        if IN_CI:
            pytest.fail(f"Redis does not answer at {REDIS_URL}; CI needs it (set ROKO_TEST_REDIS_URL)")
        pytest.skip(f"Redis does not answer at {REDIS_URL}")
    return REDIS_URL


def test_workers_sharing_redis_share_one_schedule_per_port(redis_url: str) -> None:
    prefix = f"roko-test-{uuid.uuid4().hex}"
    first, second = RedisPacer(1, redis_url, prefix), RedisPacer(1, redis_url, prefix)
    waits = [pacer.reserve(17) for _ in range(4) for pacer in (first, second)]
    # Reserved within a few ms of each other: slot k is k seconds away.
    assert waits == pytest.approx([float(k) for k in range(8)], abs=0.25)
    assert first.reserve(3) == pytest.approx(0.0, abs=0.25), "each SIM port has its own schedule"
    assert RedisPacer(0, redis_url, prefix).reserve(17) == 0.0


def test_the_pacer_follows_the_rate_limit_storage(make_app: Any, simulator: Any) -> None:
    memory = make_app(**worker_config(simulator, TOPAZ_RATE_PER_PORT=5, RATELIMIT_STORAGE_URI="memory://"))
    assert isinstance(pacer_from_config(memory.config), LocalPacer)
    shared = make_app(**worker_config(simulator, TOPAZ_RATE_PER_PORT=5, RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/15"))
    pacer = pacer_from_config(shared.config)
    assert isinstance(pacer, RedisPacer) and pacer.shared and pacer.rate == 5
    off = make_app(**worker_config(simulator, TOPAZ_RATE_PER_PORT=0, RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/15"))
    assert pacer_from_config(off.config).rate == 0


@pytest.mark.parametrize(("rate", "batch", "claim"), [(0, 20, 20), (1, 20, 5), (20, 20, 20), (0.1, 20, 1)])
def test_a_throttled_worker_claims_about_five_seconds_of_sends(make_app: Any, simulator: Any, rate: float,
                                                               batch: int, claim: int) -> None:
    app = make_app(**worker_config(simulator, TOPAZ_RATE_PER_PORT=rate))
    with app.app_context():
        assert Worker.from_app(app, batch_size=batch).claim_size == claim


def test_without_its_redis_the_throttle_sends_nothing_and_gives_the_rows_back(make_app: Any, simulator: Any) -> None:
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    app = make_app(**worker_config(simulator, TOPAZ_RATE_PER_PORT=5, RATELIMIT_STORAGE_URI=unreachable))
    bulk_queue(app, 3)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            worker.stop()

    with app.app_context():
        worker = Worker.from_app(app, sleep=sleep)
        worker.run()
        with pytest.raises(ThrottleUnavailable):
            Worker.from_app(app).run(once=True)
    assert slept == [1, 2] and simulator.sent() == []
    assert [(r.status, r.attempts) for r in outbox(app)] == [("QUEUED", 0)] * 3
