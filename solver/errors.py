"""Typed errors. Library code raises these; the CLI turns them into `path: message` lines."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Issue:
    """One problem found in user input: where (file and location) and what."""

    file: str
    location: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.location}" if self.location else self.file
        return f"{where}: {self.message}"


class TrilemmaError(Exception):
    """Base class of every error a user can cause."""

    exit_code = 1


@dataclass
class InputError(TrilemmaError):
    """One or more problems in a user's file, all reported at once."""

    issues: list[Issue] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(i) for i in self.issues)


class CatalogError(InputError):
    """A catalog file is malformed or inconsistent."""


class ProblemError(InputError):
    """A problem file is malformed or refers to unknown catalog entries."""

    def located(self, file: str) -> ProblemError:
        """The same issues, those raised without a file (as `problem`) pointed at `file`."""
        return ProblemError([Issue(file, i.location, i.message) if i.file == "problem" else i for i in self.issues])


class EstimateError(TrilemmaError):
    """An estimate request cannot be evaluated (unknown id, impossible parallelism...)."""


class InfeasibleError(TrilemmaError):
    """No deployment satisfies the problem; `explanation` says why in domain terms."""

    exit_code = 2

    def __init__(self, explanation: list[str], details: list[dict] | None = None):
        super().__init__("\n".join(explanation))
        self.explanation = explanation
        self.details = details or []


class NoSolutionError(TrilemmaError):
    """The time limit ran out before any feasible deployment was found."""

    exit_code = 3


class DeployError(TrilemmaError):
    """A plan cannot be turned into launch commands or manifests (a layout the engine cannot start,
    a missing quantized checkpoint, a result file that is not a `solve --json` result)."""
