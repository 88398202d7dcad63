"""Alerts: rules, detectors, their evaluation and the alert lifecycle."""
