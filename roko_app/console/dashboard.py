"""The dashboard: entries by outcome (today, campaign), valid entries per hour and per
day as server-rendered SVG bars, the outbox and the time of the last inbound SMS."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template
from flask_babel import format_date, format_datetime, format_time

from roko_app.auth.decorators import role_required
from roko_app.console.blueprint import bp
from roko_app.console.entries import campaign_tz
from roko_app.console.labels import OUTCOME_LABELS
from roko_app.models.accounts import Role
from roko_app.models.draw import VALID_OUTCOMES
from roko_app.reads.dashboard import SILENT_AFTER, Bucket, DayCounts, dashboard_stats

# The charts' drawing box, in SVG user units. The SVG is stretched to the width of the
# page and a fixed height (preserveAspectRatio="none"), so it holds bars only; the
# labels are HTML under it and stay readable on a 360 px phone as on a wide screen.
CHART_WIDTH = 1000
CHART_HEIGHT = 100


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    title: str  # the bucket in full, for the tooltip and the table
    label: str | None  # the axis label under this bar, if any


@dataclass(frozen=True, slots=True)
class Chart:
    bars: list[Bar]
    maximum: int
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT

    @property
    def total(self) -> int:
        return sum(bar.count for bar in self.bars)


def bar_chart(buckets: Sequence[Bucket], title: Callable[[Bucket], str],
              label: Callable[[Bucket], str], label_every: int) -> Chart:
    """Bars scaled to the largest bucket; every ``label_every``-th bar (from the last) labelled."""
    maximum = max((bucket.count for bucket in buckets), default=0)
    slot = CHART_WIDTH / max(len(buckets), 1)
    bars = []
    for index, bucket in enumerate(buckets):
        height = round(CHART_HEIGHT * bucket.count / maximum, 2) if maximum else 0.0
        labelled = (len(buckets) - 1 - index) % label_every == 0
        bars.append(Bar(x=round(index * slot + slot * 0.1, 2), y=round(CHART_HEIGHT - height, 2),
                        width=round(slot * 0.8, 2), height=height, count=bucket.count, title=title(bucket),
                        label=label(bucket) if labelled else None))
    return Chart(bars, maximum)


#: How often the dashboard's figures refresh in place (static/js/dashboard.js).
REFRESH_SECONDS = 30


@bp.get("/")
@role_required(Role.VIEWER)
def dashboard() -> Any:
    tz = campaign_tz()
    cache = current_app.extensions.setdefault("roko_dashboard_days", DayCounts())
    stats = dashboard_stats(tz=tz, campaign_start=current_app.config.get("CAMPAIGN_START_AT"), cache=cache)
    hourly = bar_chart(stats.hourly_valid, title=lambda b: format_datetime(b.start, "d MMM HH:mm"),
                       label=lambda b: format_time(b.start, "HH:mm"), label_every=4)
    daily = bar_chart(stats.daily_valid, title=lambda b: format_date(b.start, "d MMM yyyy"),
                      label=lambda b: format_date(b.start, "d MMM"),
                      label_every=max(1, math.ceil(len(stats.daily_valid) / 6)))
    today = stats.now.astimezone(tz).date().isoformat()
    valid_today = sum(stats.today.get(outcome, 0) for outcome in VALID_OUTCOMES)
    silent_minutes = int(SILENT_AFTER.total_seconds() // 60)
    return render_template("console/dashboard.html", stats=stats, hourly=hourly, daily=daily, today=today,
                           valid_today=valid_today, outcomes=OUTCOME_LABELS, silent_minutes=silent_minutes,
                           refresh_seconds=int(current_app.config.get("DASHBOARD_REFRESH_SECONDS", REFRESH_SECONDS)))
