"""Fixtures of the worker's tests: an app wired to the Topaz simulator, and a clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from freezegun import freeze_time

from tests.factories import T0_WORKER
from tests.helpers import worker_config


@pytest.fixture
def wapp(make_app: Any, simulator: Any) -> Any:
    """An app whose worker sends to the Topaz simulator."""
    return make_app(**worker_config(simulator))


@pytest.fixture
def frozen() -> Iterator[Any]:
    """The clock stopped at :data:`tests.factories.T0_WORKER`; move it with ``frozen.tick()`` / ``move_to``."""
    with freeze_time(T0_WORKER) as frozen_time:
        yield frozen_time
