"""Tests of pipeline/ (named test_pipeline so `python -m pipeline` from tests/ still finds the product)."""
