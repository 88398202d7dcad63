"""Costs: metered services, price rates, costs, budgets, forecasts and recommendations."""
