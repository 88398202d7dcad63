"""The periodic jobs every worker runs (`tollway worker`, or in-process under `serve`)."""

from __future__ import annotations

from datetime import timedelta

from tollway.metering.retention import RetentionJob, RetentionPolicy
from tollway.metering.rollups import RollupJob
from tollway.services import Services
from tollway.settings import Settings
from tollway.worker import PeriodicJob


def retention_policy(settings: Settings) -> RetentionPolicy:
    """Usage retention from the settings."""
    day = settings.usage_day_retention_days
    return RetentionPolicy(
        raw=timedelta(days=settings.usage_raw_retention_days),
        minute=timedelta(days=settings.usage_minute_retention_days),
        hour=timedelta(days=settings.usage_hour_retention_days),
        day=None if day is None else timedelta(days=day),
    )


def rollup_job(settings: Settings) -> RollupJob:
    """The rollup job configured by the settings."""
    return RollupJob(minute_retention=retention_policy(settings).minute)


def background_jobs(settings: Settings, services: Services) -> list[PeriodicJob]:
    """Every periodic job, with its interval."""
    return [
        PeriodicJob("alerts", settings.alert_interval_seconds, services.alert_engine.run),
        PeriodicJob("budgets", settings.budget_interval_seconds, services.budgets.evaluate),
        # Runs until stopped; restarted after a second should it ever fail.
        PeriodicJob("webhook-dispatch", 1.0, services.webhooks.run),
        PeriodicJob("usage-rollups", settings.rollup_interval_seconds, rollup_job(settings).run),
        PeriodicJob(
            "usage-retention",
            settings.retention_interval_seconds,
            RetentionJob(retention_policy(settings)).run,
        ),
    ]
