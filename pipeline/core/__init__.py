"""The sync's pure core: records of the manifest, the org tree and the live state; desired; ops; planner;
guard; report. No boto3, no botocore, no environment, no clock (tests/test_pipeline/test_architecture.py)."""
