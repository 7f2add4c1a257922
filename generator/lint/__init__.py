"""The lint gate: cfn-lint with informational checks plus the project's own rules, in one process."""
