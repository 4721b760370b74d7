#!/usr/bin/env bash
# slurm-local.sh start|stop|status - a throw-away one-node Slurm cluster (slurmctld + slurmd +
# munge) on this machine, for tests and for trying slurm/ without a real cluster. Run as root;
# needs Debian's slurm-wlm and munge. Adapted from the tested recipe in
# ../shared/reference/slurm-local.sh: everything lives in $SLURM_LOCAL_DIR (default
# /tmp/recpipe-slurm), munged is started only when none answers (and then stopped by `stop`),
# and `start` prints the SLURM_CONF line the caller must export.
set -euo pipefail
D=${SLURM_LOCAL_DIR:-/tmp/recpipe-slurm}
export SLURM_CONF=$D/slurm.conf

die() { echo "slurm-local: $*" >&2; exit 1; }

start() {
    [ "$(id -u)" = 0 ] || die "must run as root (slurmd and munged need it)"
    for p in slurmctld slurmd munged sinfo; do
        command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] || die "$p not installed (apt-get install slurm-wlm munge)"
    done
    mkdir -p "$D/ctld" "$D/d"
    local mem cpus
    # nproc obeys OMP_NUM_THREADS (tests export 1): ask for the CPUs without it.
    cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
    mem=$(( $(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) * 9 / 10 ))
    # MpiDefault=pmix so that a plain `srun` starts Debian's Open MPI programs; proctrack
    # linuxproc and task/none need no cgroups (containers).
    cat > "$SLURM_CONF" <<CONF
ClusterName=recpipe
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MailProg=/bin/true
SlurmctldPort=${SLURM_LOCAL_CTLD_PORT:-6817}
SlurmdPort=${SLURM_LOCAL_D_PORT:-6818}
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
StateSaveLocation=$D/ctld
SlurmdSpoolDir=$D/d
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
SchedulerParameters=sched_interval=1
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE OverSubscribe=FORCE:4 State=UP
CONF
    # munge: the package's postinst creates the key; create one if it is missing.
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        [ -s /etc/munge/munge.key ] || { mungekey --create 2>/dev/null ||
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
            chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
        install -d -o munge -g munge -m 0755 /run/munge
        runuser -u munge -- /usr/sbin/munged || die "munged did not start"
        cp /run/munge/munged.pid "$D/munged.pid" 2>/dev/null || true
        munge -n | unmunge >/dev/null || die "munge does not answer"
    fi
    slurmctld -f "$SLURM_CONF" || die "slurmctld did not start; see $D/slurmctld.log"
    slurmd -f "$SLURM_CONF" -N localhost || die "slurmd did not start; see $D/slurmd.log"
    local i state
    for i in $(seq 1 60); do
        state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
        if [ "$state" = idle ]; then
            echo "export SLURM_CONF=$SLURM_CONF"
            return 0
        fi
        sleep 0.5
    done
    die "the node did not become idle (state '${state:-none}'); see $D/*.log"
}

stop() {
    local f pid
    # End this cluster's jobs first so no job step outlives the daemons.
    if [ -s "$D/slurmctld.pid" ] && scancel --user="$(id -un)" 2>/dev/null; then
        for _ in $(seq 1 20); do
            [ -z "$(squeue -h 2>/dev/null)" ] && break
            sleep 0.25
        done
    fi
    for f in "$D/slurmd.pid" "$D/slurmctld.pid" "$D/munged.pid"; do
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        rm -f "$f"
    done
    echo "slurm-local: stopped" >&2
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) sinfo ;;
*) echo "usage: $0 start|stop|status  (state in \$SLURM_LOCAL_DIR, default /tmp/recpipe-slurm)" >&2; exit 64 ;;
esac
