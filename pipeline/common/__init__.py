"""The layer the generator and the pipeline share: one Problem and error base, one command-line runner.

It lives on the pipeline side because the sync Lambda may not import the generator; only errors.py ships in
the Lambda zip.
"""
