"""Thin GraphQL resolvers, one module per area; they call services and convert types."""
