"""The Strawberry admin schema: types, inputs, enums, permissions, context, extensions."""
