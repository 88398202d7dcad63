"""The periodic jobs every worker runs (`tollway worker`, or in-process under `serve`)."""

from __future__ import annotations

from datetime import timedelta

from tollway.metering.retention import RetentionJob, RetentionPolicy
from tollway.metering.rollups import RollupJob
from tollway.services import Services
from tollway.settings import Settings
from tollway.signals import Pace, Topic, Wake
from tollway.worker import PeriodicJob


def retention_policy(settings: Settings) -> RetentionPolicy:
    """Retention from the settings (the defaults of tenants' data policies)."""
    day = settings.usage_day_retention_days
    return RetentionPolicy(
        raw=timedelta(days=settings.usage_raw_retention_days),
        minute=timedelta(days=settings.usage_minute_retention_days),
        hour=timedelta(days=settings.usage_hour_retention_days),
        day=None if day is None else timedelta(days=day),
        security_events=timedelta(days=settings.security_event_retention_days),
    )


def rollup_job(settings: Settings) -> RollupJob:
    """The rollup job configured by the settings."""
    return RollupJob(minute_retention=retention_policy(settings).minute)


IDLE_SECONDS = 300.0
"""An idle job runs at least this often even with no signal: the safety net for a signal
lost in a way the bus could not notice."""


def background_jobs(settings: Settings, services: Services) -> list[PeriodicJob]:
    """Every periodic job, with its interval and what wakes it when idle."""
    signals = services.signals

    async def budgets() -> Pace:
        await services.budgets.evaluate()
        return Pace.IDLE  # spend only grows with usage; budgets change with config

    jobs = [
        PeriodicJob("alerts", settings.alert_interval_seconds, services.alert_engine.run),
        PeriodicJob(
            "budgets",
            settings.budget_interval_seconds,
            budgets,
            Wake(signals, (Topic.USAGE, Topic.CONFIG), IDLE_SECONDS),
        ),
        PeriodicJob(
            "usage-rollups",
            settings.rollup_interval_seconds,
            rollup_job(settings).run_paced,
            Wake(signals, (Topic.USAGE,), IDLE_SECONDS),
        ),
        PeriodicJob(
            "usage-retention",
            settings.retention_interval_seconds,
            RetentionJob(retention_policy(settings)).run,
        ),
    ]
    if settings.integration_probes:
        jobs.append(
            PeriodicJob(
                "integration-probes",
                settings.integration_probe_interval_seconds,
                services.integration_health.run_due,
                Wake(signals, (Topic.CONFIG,), IDLE_SECONDS),
            )
        )
    if settings.webhook_dispatch:
        # Runs until stopped; restarted after a second should it ever fail.
        jobs.append(PeriodicJob("webhook-dispatch", 1.0, services.webhooks.run))
    return jobs
