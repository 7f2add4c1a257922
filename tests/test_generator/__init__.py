"""Tests of generator/ (named test_generator so `python -m generator` from tests/ still finds the product)."""
