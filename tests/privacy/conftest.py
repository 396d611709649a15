"""The embedded local stack, shared by the privacy test modules that need no more than it and its logs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devstack.stack import LocalStack
from tests.moto_stack import aws_stack
from tests.privacy.localstack import LogCapture, running_stack

__all__ = ["aws_stack"]  # tests/moto_stack.py, for test_envelope.py


@dataclass
class Local:
    stack: LocalStack
    capture: LogCapture


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    with running_stack() as (stack, capture):
        yield Local(stack, capture)
