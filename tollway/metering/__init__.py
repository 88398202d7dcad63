"""Usage metering: capture, buffering, durable batch writes (rollups and analytics to come)."""
