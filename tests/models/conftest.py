"""moto and the DynamoDB call counter (tests/moto_stack.py)."""

from tests.moto_stack import atomic_moto, aws_stack, dynamo_calls

__all__ = ["atomic_moto", "aws_stack", "dynamo_calls"]
