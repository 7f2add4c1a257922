"""CloudFormation template generator for AWS Organizations: blueprints, org roles, lint and review."""

__version__ = "0.1.0"
