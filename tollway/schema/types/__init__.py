"""Strawberry object types, enums and inputs, one module per area."""
