"""Jobs of the channel ladder (module-level, taking ids; run from the outbox)."""

from __future__ import annotations

from feedback.jobs import job

from . import operations as dist


@job
def run_step(step_id: int) -> str:
    """Send one step of an invitation's ladder on its channel (or defer / skip it)."""
    return dist.run_step(step_id)


def _run_step_failed(step_id: int, error: str | None = None) -> None:
    dist._run_step_failed(step_id, error)


run_step.on_failure = _run_step_failed  # type: ignore[attr-defined]


@job
def check_step(step_id: int) -> str:
    """A sent step's wait is over: stop if answered, else move down the ladder."""
    return dist.check_step(step_id)


@job
def sync_step(step_id: int) -> str:
    """The IVR channel placed, deferred or ended a call of a step: bring the step up to date."""
    return dist.sync_call_step(step_id)


@job
def decide_again(event_id: int, survey_id: str, trigger_index: int) -> str:
    """A trigger that waited for a readable contact policy decides now."""
    return dist.decide_again(event_id, survey_id, trigger_index)
