"""Tests of the dev-only local stack."""
