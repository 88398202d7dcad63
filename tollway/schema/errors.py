"""Error masking and `extensions.code`, always on.

TollwayError messages stay visible with their code; parse and validation failures are
BAD_USER_INPUT; anything else raised while resolving is logged and masked as INTERNAL.
"""

from __future__ import annotations

import logging

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from tollway.errors import ErrorCode, TollwayError
from tollway.health.metrics import GRAPHQL_ERRORS

logger = logging.getLogger("tollway.graphql")

INTERNAL_MESSAGE = "Internal server error."


def coded_error(error: GraphQLError) -> GraphQLError:
    """The client-safe form of one error, with `extensions.code`."""
    original = error.original_error
    extensions = dict(error.extensions or {})
    message = error.message
    if isinstance(original, TollwayError):
        code = original.code
        message = original.message
        if code is ErrorCode.INTERNAL:
            logger.error("dependency failure: %s", original.message, exc_info=original)
            message = INTERNAL_MESSAGE
    elif original is None or isinstance(original, GraphQLError) or error.path is None:
        # Syntax, validation and variable-coercion errors describe the request itself.
        code = ErrorCode.BAD_USER_INPUT
    else:
        logger.error("unhandled error in %s", error.path, exc_info=original)
        code = ErrorCode.INTERNAL
        message = INTERNAL_MESSAGE
    extensions["code"] = code.value
    GRAPHQL_ERRORS.labels(code.value).inc()
    return GraphQLError(
        message=message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


class CodedErrors(MaskErrors):
    """MaskErrors that codes every error instead of blanking it."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [coded_error(error) for error in errors]
