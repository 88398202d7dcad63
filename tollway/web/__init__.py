"""The web layer: the Starlette pieces of `tollway serve` (the GraphQL view, its websocket
handler and schema, health and metrics routes), assembled by `tollway.app`."""
