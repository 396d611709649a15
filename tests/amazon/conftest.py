"""moto, the LWA stand-in and the DynamoDB call counter (tests/moto_stack.py); the Event Gateway
stack the proactive tests use (tests/proactive/conftest.py)."""

from tests.moto_stack import atomic_moto, aws_stack, dynamo_calls, lwa_standin
from tests.proactive.conftest import stack

__all__ = ["atomic_moto", "aws_stack", "dynamo_calls", "lwa_standin", "stack"]
