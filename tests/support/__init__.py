"""Helpers shared by the test packages: repository paths, the org sync's World, and the Lambda's job events."""
