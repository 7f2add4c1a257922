"""The generator's errors: every expected failure is a GeneratorError, under the product's one error base
(pipeline.common.errors), so every command prints it as one sentence with its exit code."""

from __future__ import annotations

from pipeline.common.errors import ProblemsError, ProductError


class GeneratorError(ProductError):
    """Base of every error the generator's commands turn into a one-line message and exit code 2."""


class InputError(ProblemsError, GeneratorError):
    """Bad input: one or more problems, each naming its file and key."""

    subject = "the input"


class OutputError(GeneratorError):
    """The output location cannot be written safely (for example a folder the generator did not make)."""
