"""The ``slurm`` launcher: each training run is one ``sbatch`` job.

The job script exports the Pipes bootstrap variables and runs the worker; its stdout/stderr go to
``slurm-<jobid>.out/.err`` in the run's work folder (shared storage). The launcher reads the job's
state with ``squeue`` while it runs and ``scontrol show job`` when it has left the queue. A job that
Slurm preempts is requeued by Slurm (``--requeue``) and resumes from its checkpoint; one that is
cancelled, preempted without requeue, or lost with its node is retried by Dagster and resumes too.
A job that stays pending while its partition has no usable node (all down or drained) for
``node_down_timeout_s`` is cancelled and fails with the reason, so a sweep does not hang on a dead
cluster; rerun it when the nodes are back (finished runs are reused).
"""

from __future__ import annotations

import shlex
import subprocess
import time

import dagster as dg

from mixtures.config import SlurmLaunchConfig
from mixtures.storage import atomic_write_json
from resources.launchers.base import LaunchRequest, judge, pipes_session

USABLE_NODE_STATES = ("idle", "mix", "alloc", "comp", "plnd", "resv")  # sinfo %t prefixes that can run work
JOB_FIELDS = ("JobId", "JobState", "ExitCode", "Reason", "Restarts", "SubmitTime", "StartTime", "EndTime", "NodeList")


class SlurmError(RuntimeError):
    """A Slurm command failed."""


class SlurmLauncher:
    """Submit the worker with ``sbatch`` and follow the job to its end."""

    name = "slurm"
    default_concurrency = 16
    stop_grace_s = 4.0  # seconds a stopped run worker gets after SIGTERM (scancel of its job)

    def __init__(self, config) -> None:
        self.config = config
        self.settings: SlurmLaunchConfig = config.launch.slurm

    # -- the job script --------------------------------------------------------------------------
    def directives(self, request: LaunchRequest) -> list[str]:
        s = self.settings
        logs = request.logs
        options = [f"--job-name=mixtures-{request.spec.run_id}", f"--output={logs}/slurm-%j.out",
                   f"--error={logs}/slurm-%j.err", "--open-mode=append", "--requeue",
                   f"--cpus-per-task={s.cpus_per_task or request.spec.threads}"]
        optional = {"--partition": s.partition, "--account": s.account, "--mem": s.mem, "--time": s.time,
                    "--qos": s.qos}
        options += [f"{flag}={value}" for flag, value in optional.items() if value]
        if s.gpus:
            options.append(f"--gres=gpu:{s.gpus}")
        options += list(s.extra_args)
        return options

    def script(self, request: LaunchRequest, env: dict[str, str]) -> str:
        lines = ["#!/bin/bash", *(f"#SBATCH {option}" for option in self.directives(request)), "set -e"]
        lines += list(self.settings.setup)
        lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
        if request.workdir:
            lines.append(f"cd {shlex.quote(request.workdir)}")
        lines.append("exec " + shlex.join(request.worker_command(self.settings.python)))
        return "\n".join(lines) + "\n"

    # -- the job ---------------------------------------------------------------------------------
    def launch(self, context: dg.AssetExecutionContext, request: LaunchRequest) -> None:
        with pipes_session(context, request) as session:
            env = {**request.worker_env(), **session.get_bootstrap_env_vars()}
            path = request.logs / "job.sbatch"
            path.write_text(self.script(request, env), encoding="utf-8")
            job = self.submit(path)
            context.log.info(f"{request.spec.run_id}: Slurm job {job} submitted ({path})")
            ended = False
            try:
                state = self.follow(context, job, request)
                ended = True
            finally:
                if not ended:  # interrupted (or the node timeout): the job must not outlive the step
                    self.cancel(job)
        logs = sorted(request.logs.glob(f"slurm-{job}.*"))
        atomic_write_json(request.logs / f"slurm-{job}.json", {k: state.get(k) for k in JOB_FIELDS})
        judge(request, f"Slurm job {job} ended {state['JobState']} (exit code {state.get('ExitCode', '?')}, "
                       f"reason {state.get('Reason', 'None')})", logs)

    def stop(self, run_ids: list[str]) -> None:
        """Cancel the jobs of ``run_ids`` still known to Slurm (by their job names)."""
        for run_id in run_ids:
            _run(["scancel", f"--name=mixtures-{run_id}"], check=False)

    def submit(self, script) -> str:
        done = _run(["sbatch", "--parsable", str(script)])
        return done.split(";")[0].strip()

    def follow(self, context, job: str, request: LaunchRequest) -> dict[str, str]:
        """Wait for ``job`` to leave the queue; its final ``scontrol`` fields."""
        s = self.settings
        unusable_since = None
        last = None
        while True:
            queued = _run(["squeue", "-h", "-j", job, "-o", "%T|%r"], check=False).strip()
            if not queued:
                return self.final_state(job)
            status, _, reason = queued.partition("|")
            if status != last:
                context.log.info(f"{request.spec.run_id}: Slurm job {job} {status} ({reason})")
                last = status
            if status == "PENDING" and not self.partition_usable():
                unusable_since = unusable_since or time.monotonic()
                if time.monotonic() - unusable_since > s.node_down_timeout_s:
                    nodes = _run(["sinfo", "-h", *self._partition_args(), "-o", "%N %t"], check=False).strip()
                    self.cancel(job)
                    raise dg.Failure(
                        description=(f"{request.spec.kind} run {request.spec.run_id}: Slurm job {job} waited "
                                     f"{s.node_down_timeout_s:g} s while partition "
                                     f"{s.partition or '(default)'} had no usable node (sinfo: {nodes or 'none'}); "
                                     "it was cancelled. Bring the nodes back (scontrol update nodename=... "
                                     "state=resume) and rerun: finished runs are reused."),
                        allow_retries=False)
            else:
                unusable_since = None
            time.sleep(s.poll_seconds)

    def partition_usable(self) -> bool:
        """Whether some node of the partition can take work (a ``*`` suffix means it is not responding)."""
        states = _run(["sinfo", "-h", *self._partition_args(), "-o", "%t"], check=False).split()
        return any(not state.endswith("*") and state.rstrip("~#!%$@^-").startswith(USABLE_NODE_STATES)
                   for state in states)

    def _partition_args(self) -> list[str]:
        return ["-p", self.settings.partition] if self.settings.partition else []

    @staticmethod
    def final_state(job: str) -> dict[str, str]:
        text = _run(["scontrol", "show", "job", "-o", job], check=False)
        fields = dict(item.split("=", 1) for item in text.split() if "=" in item)
        fields.setdefault("JobState", "UNKNOWN (no longer known to slurmctld)")
        return fields

    @staticmethod
    def cancel(job: str) -> None:
        _run(["scancel", job], check=False)


def _run(command: list[str], check: bool = True) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise SlurmError(f"{command[0]} not found: the slurm launcher needs Slurm's commands on PATH "
                         "(launch.launcher: slurm)") from None
    except subprocess.TimeoutExpired:
        if check:
            raise SlurmError(f"{' '.join(command)} did not answer in 60 s: is slurmctld up?") from None
        return ""
    if check and done.returncode != 0:
        raise SlurmError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout
