"""A real single-node Slurm cluster on localhost (Debian ``slurm-wlm`` + ``munge``), for tests and benches.

``LocalSlurm`` writes a ``slurm.conf`` in a temporary folder, starts ``munged`` (if none runs),
``slurmctld`` and ``slurmd`` as root, waits until the node is idle, and stops them by their PID files.
``stop_node``/``start_node`` stop and restart ``slurmd`` alone (the fault tests). Under ``CI=true`` a
cluster that cannot start is an error; elsewhere :func:`slurm_missing` says why the tests skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

SBIN = Path("/usr/sbin")
CONF = """\
ClusterName=mixtures-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SchedulerParameters=sched_min_interval=100000,batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
ReturnToService=2
SlurmdTimeout={slurmd_timeout}
MessageTimeout=5
KillWait=5
MinJobAge=600
JobRequeue=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=localhost CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def slurm_missing() -> str | None:
    """Why a local Slurm cluster cannot run here (``None`` when it can)."""
    if os.geteuid() != 0:
        return "the local Slurm cluster runs its daemons as root"
    for name in ("slurmctld", "slurmd", "munged"):
        if not (SBIN / name).exists():
            return f"/usr/sbin/{name} not found: apt-get install slurm-wlm munge (.ci/run does)"
    if shutil.which("sbatch") is None:
        return "sbatch not found: apt-get install slurm-wlm"
    return None


class LocalSlurm:
    """Start/stop ``slurmctld`` + ``slurmd`` on localhost; ``env`` points Slurm's commands at this cluster."""

    def __init__(self, folder: Path, cpus: int = 2, slurmd_timeout: int = 10, ports: tuple[int, int] = (6917, 6918)):
        self.dir = Path(folder)
        self.cpus = cpus
        self.conf = self.dir / "slurm.conf"
        self.slurmd_timeout = slurmd_timeout
        self.ports = ports
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> LocalSlurm:
        why = slurm_missing()
        if why:
            raise RuntimeError(why)
        for sub in ("state", "spool"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(CONF.format(dir=self.dir, cpus=self.cpus, slurmd_timeout=self.slurmd_timeout,
                                         ctld_port=self.ports[0], d_port=self.ports[1]))
        self._start_munge()
        self._run([str(SBIN / "slurmctld"), "-f", str(self.conf)])
        self.start_node(timeout=timeout)
        return self

    def stop(self) -> None:
        """End both daemons (and any job steps they left)."""
        subprocess.run(["scancel", "--full", "--quiet", "-u", "root"], env=self.env, capture_output=True, timeout=30)
        for name in ("slurmd", "slurmctld"):
            self._kill(self.dir / f"{name}.pid")

    def __enter__(self) -> LocalSlurm:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the node ------------------------------------------------------------------------------
    def stop_node(self) -> None:
        """Stop ``slurmd`` (the compute node goes away; ``slurmctld`` stays up)."""
        self._kill(self.dir / "slurmd.pid")

    def start_node(self, timeout: float = 60.0) -> None:
        """Start ``slurmd`` and wait until the node accepts work."""
        self._run([str(SBIN / "slurmd"), "-f", str(self.conf)])
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.node_state()
            if state.startswith(("idle", "mixed", "alloc")):
                return
            if state.startswith(("down", "drain")):
                subprocess.run(["scontrol", "update", "nodename=localhost", "state=resume"], env=self.env,
                               capture_output=True)
            time.sleep(0.5)
        raise RuntimeError(f"the Slurm node did not become idle in {timeout:.0f} s (state {state!r}); "
                           f"see {self.dir / 'slurmd.log'} and {self.dir / 'slurmctld.log'}")

    def node_state(self) -> str:
        out = subprocess.run(["sinfo", "-h", "-n", "localhost", "-o", "%T"], env=self.env, capture_output=True,
                             text=True, timeout=30)
        return out.stdout.strip()

    # -- helpers -------------------------------------------------------------------------------
    def _start_munge(self) -> None:
        if subprocess.run(["pgrep", "-x", "munged"], capture_output=True).returncode == 0:
            return
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            subprocess.run([str(SBIN / "mungekey"), "-c"], check=True)
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        subprocess.run(["su", "-s", "/bin/sh", "munge", "-c", str(SBIN / "munged")], check=True)

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")

    @staticmethod
    def _kill(pid_file: Path, grace: float = 10.0) -> None:
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
