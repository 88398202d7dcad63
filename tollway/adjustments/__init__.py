"""Time-bounded limit adjustments: boosts, throttles and emergency overrides."""
