"""The ``local`` launcher: each training run is a subprocess of its Dagster step (the embedded default)."""

from __future__ import annotations

import os
import subprocess

import dagster as dg

from resources.launchers.base import LaunchRequest, judge, pipes_session


class LocalLauncher:
    """Run the worker as a child process on this machine; its stdout/stderr go to the run's work folder."""

    name = "local"
    default_concurrency = None  # cores / threads
    stop_grace_s = 1.0  # seconds a stopped run worker gets after SIGTERM (its worker dies with the step)

    def __init__(self, config) -> None:
        self.config = config

    def stop(self, run_ids: list[str]) -> None:
        """Nothing to do: a worker dies with its Dagster step (the kernel's parent-death signal)."""

    def launch(self, context: dg.AssetExecutionContext, request: LaunchRequest) -> None:
        out, err = request.logs / "stdout.log", request.logs / "stderr.log"
        with pipes_session(context, request) as session:
            env = {**os.environ, **request.worker_env(), **session.get_bootstrap_env_vars()}
            with open(out, "ab") as stdout, open(err, "ab") as stderr:
                process = subprocess.Popen(request.worker_command(), env=env, stdin=subprocess.DEVNULL,
                                           stdout=stdout, stderr=stderr, cwd=request.workdir or None)
                context.log.info(f"{request.spec.run_id}: worker pid {process.pid} (logs in {request.logs})")
                try:
                    code = process.wait()
                except BaseException:  # the step is interrupted: the training must not outlive it
                    process.kill()
                    process.wait()
                    raise
        how = f"the worker was killed by signal {-code}" if code < 0 else f"the worker exited with code {code}"
        judge(request, how, [out, err])
