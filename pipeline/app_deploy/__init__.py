"""The public command name `python -m pipeline.app_deploy`, kept stable; the code is in pipeline.apps.app_deploy."""
