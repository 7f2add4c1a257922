"""The project's own cfn-lint rules, one per file, loaded with cfn-lint's append-rules mechanism."""
