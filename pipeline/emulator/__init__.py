"""Test and --local support: a faithful StackSet emulator in front of moto, and organization seeding.

Imports moto (a test dependency), so it is never part of the Lambda package; only tests, the benchmark and
`python -m pipeline ... --local` import it.
"""
