"""Publish ECS deploy and rollback messages from a CI account to a workload account's deploy topic.

`python -m pipeline.app_deploy deploy|rollback|package`: assume the CI publisher role through STS and
publish one validated message to SNS, or build the deploy Lambda's code zip.
"""
