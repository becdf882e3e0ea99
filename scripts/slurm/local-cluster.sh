#!/usr/bin/env bash
# A real, single-node Slurm cluster on this machine, for tests (scripts/slurm/test.sh).
#
#   bash scripts/slurm/local-cluster.sh up      # start munged, slurmctld, slurmd (~10-25 s)
#   bash scripts/slurm/local-cluster.sh down    # stop exactly what `up` started, remove its state
#   bash scripts/slurm/local-cluster.sh status  # sinfo
#
# Needs root on Debian (12): installs slurm-wlm and munge with apt-get when they are missing,
# then runs the daemons as root without systemd. Everything lives in one private directory,
# $LAZYRICH_SLURM_DIR (default /tmp/lazyrich-slurm): slurm.conf, state, logs, PID files and
# env.sh, which exports SLURM_CONF for the clients (`source "$LAZYRICH_SLURM_DIR/env.sh"`).
# munged gets its own socket there (slurm.conf points AuthInfo at it), so a munged already
# running on the machine is left alone. `down` kills only the PIDs in its PID files.
#
# Settings (environment of `up`):
#   LAZYRICH_SLURM_MAX_ARRAY_SIZE  MaxArraySize (default 1001; array indices 0..MaxArraySize-1)
#   LAZYRICH_SLURM_KILL_WAIT       KillWait: seconds between SIGTERM and SIGKILL (default 10)
#   LAZYRICH_SLURM_CPUS            CPUs of the node (default: nproc)
set -euo pipefail

dir=${LAZYRICH_SLURM_DIR:-/tmp/lazyrich-slurm}
max_array=${LAZYRICH_SLURM_MAX_ARRAY_SIZE:-1001}
kill_wait=${LAZYRICH_SLURM_KILL_WAIT:-10}
cpus=${LAZYRICH_SLURM_CPUS:-$(nproc)}
up_timeout=60

log() { echo "local-cluster: $*" >&2; }
die() { log "$*"; exit 1; }

# The PID in file $1 if that process is alive.
alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v munged >/dev/null && command -v sbatch >/dev/null; then
        return
    fi
    [[ $(id -u) == 0 ]] || die "slurm-wlm and munge are missing; installing them needs root"
    log "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q slurm-wlm munge >"$dir/apt.log" 2>&1 \
        || { apt-get update -q >>"$dir/apt.log" 2>&1 \
            && apt-get install -y -q slurm-wlm munge >>"$dir/apt.log" 2>&1; } \
        || { tail -20 "$dir/apt.log" >&2; die "apt-get install slurm-wlm munge failed"; }
}

write_conf() {
    local host=$1
    cat >"$dir/slurm.conf" <<EOF
# Written by scripts/slurm/local-cluster.sh: a one-node test cluster.
ClusterName=lazyrich
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${LAZYRICH_SLURM_CTLD_PORT:-6817}
SlurmdPort=${LAZYRICH_SLURM_D_PORT:-6818}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
ReturnToService=2
KillWait=$kill_wait
MinJobAge=600
MaxArraySize=$max_array
MaxJobCount=100000
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
    mkdir -p "$dir/munge"
    chown munge:munge "$dir/munge"
    chmod 0755 "$dir/munge"
    local key=/etc/munge/munge.key
    if [[ ! -s $key ]]; then
        log "creating the munge key $key"
        if command -v mungekey >/dev/null; then
            runuser -u munge -- mungekey --create --keyfile="$key"
        else
            create-munge-key -f
        fi
    fi
    if alive "$dir/munged.pid"; then return; fi
    rm -f "$dir/munge/munge.socket"*
    runuser -u munge -- munged --socket="$dir/munge/munge.socket" --key-file="$key" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
        --seed-file="$dir/munge/munged.seed" \
        || die "munged did not start: $(tail -5 "$dir/munge/munged.log" 2>/dev/null)"
    # munged daemonizes; its PID file appears once the socket is ready.
    for _ in $(seq 50); do
        [[ -s "$dir/munge/munged.pid" ]] && break
        sleep 0.1
    done
    cp "$dir/munge/munged.pid" "$dir/munged.pid" \
        || die "munged wrote no PID file: $(tail -5 "$dir/munge/munged.log" 2>/dev/null)"
}

wait_idle() {
    local deadline=$((SECONDS + up_timeout)) state=""
    while ((SECONDS < deadline)); do
        state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
        case $state in
            idle | mixed | allocated) return 0 ;;
        esac
        sleep 0.5
    done
    log "the node is not idle after ${up_timeout} s (state: '${state:-none}'); log tails:"
    for file in "$dir/log/slurmctld.log" "$dir/log/slurmd.log" "$dir/munge/munged.log"; do
        echo "--- $file" >&2
        tail -15 "$file" >&2 2>/dev/null || true
    done
    return 1
}

up() {
    mkdir -p "$dir"
    chmod 0755 "$dir" # munged runs as the user munge and needs to reach its socket inside
    install_packages
    if alive "$dir/slurmctld.pid" && alive "$dir/slurmd.pid"; then
        export SLURM_CONF=$dir/slurm.conf
        wait_idle || die "a cluster is running from $dir but is not healthy: run down, then up"
        log "already up ($dir)"
        return
    fi
    stop_daemons
    local host
    host=$(hostname -s)
    mkdir -p "$dir/state" "$dir/spool/slurmd" "$dir/log"
    write_conf "$host"
    printf 'export SLURM_CONF=%q\n' "$dir/slurm.conf" >"$dir/env.sh"
    export SLURM_CONF=$dir/slurm.conf
    start_munge
    # -c: a fresh controller (no saved jobs); -i: ignore leftover state from an older run.
    slurmctld -c -i -f "$SLURM_CONF" || die "slurmctld did not start: $(tail -5 "$dir/log/slurmctld.log")"
    slurmd -f "$SLURM_CONF" -N "$host" || die "slurmd did not start: $(tail -5 "$dir/log/slurmd.log")"
    wait_idle || { stop_daemons; die "the cluster did not come up; see $dir/log"; }
    log "up: node $host, $cpus CPUs, MaxArraySize=$max_array, KillWait=$kill_wait s (source $dir/env.sh)"
}

# Stops the daemons whose PID files are in $dir (ours only), waiting for each to exit.
stop_daemons() {
    local file pid
    for file in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munged.pid"; do
        if alive "$file"; then
            pid=$(cat "$file")
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$file"
    done
}

down() {
    [[ -d $dir ]] || { log "nothing to stop ($dir does not exist)"; return; }
    stop_daemons
    rm -rf "$dir"
    log "down"
}

case ${1:-} in
    up) up ;;
    down) down ;;
    status) SLURM_CONF=$dir/slurm.conf sinfo ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
