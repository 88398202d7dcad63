"""Error masking and `extensions.code`, always on.

TollwayError messages stay visible with their code; parse and validation failures are
BAD_USER_INPUT; anything else raised while resolving is logged and masked as INTERNAL.
"""

from __future__ import annotations

import logging
import re

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from tollway.errors import ErrorCode, TollwayError
from tollway.health.metrics import GRAPHQL_ERRORS
from tollway.schema.introspection import IntrospectionMode, is_authenticated

logger = logging.getLogger("tollway.graphql")

INTERNAL_MESSAGE = "Internal server error."


SUGGESTION = re.compile(r"\s*Did you mean .*\?\s*$")


def coded_error(error: GraphQLError, suggest: bool = True) -> GraphQLError:
    """The client-safe form of one error, with `extensions.code`; without `suggest`, no
    "Did you mean" naming fields of the schema."""
    original = error.original_error
    extensions = dict(error.extensions or {})
    message = error.message if suggest else SUGGESTION.sub("", error.message)
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

    def __init__(self, mode: IntrospectionMode = IntrospectionMode.PUBLIC) -> None:
        super().__init__()
        self.mode = mode

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        suggest = self.mode is IntrospectionMode.PUBLIC or (
            self.mode is IntrospectionMode.AUTHENTICATED
            and is_authenticated(self.execution_context.context)
        )
        return [coded_error(error, suggest) for error in errors]
