# shellcheck shell=bash
# scripts/lib-services.sh -- helpers behind scripts/services.sh.
#
# Source it (from bash) to drive the local test services directly:
#
#   source scripts/lib-services.sh
#   trib_stop_influx            # SIGTERM our influxd, keep its data
#   trib_start_influx           # start it again on the same data, wait for /ping
#   kill -STOP "$(trib_pid influxdb)"; ...; kill -CONT "$(trib_pid influxdb)"
#   trib_restart_broker         # graceful restart; persistence keeps sessions
#
# Every stop/restart/pause helper acts only on a process this script started
# (PID recorded in the state dir, and the PID still runs the expected binary).
# Nothing here changes shell options, so it is safe to source into a shell
# running with `set -euo pipefail`; functions return non-zero on failure.
#
# Environment (read when sourced; call trib_init again after changing them):
#   TRIBUTARY_STATE_DIR       state dir (default /tmp/tributary-services)
#   TRIBUTARY_MQTT_PORT       broker port (default 1884)
#   TRIBUTARY_REDIS_PORT      redis port (default 6379)
#   TRIBUTARY_INFLUX_PORT     InfluxDB HTTP port (default 8086)
#   TRIBUTARY_INFLUX_RPC_PORT InfluxDB backup/restore RPC port (default 8088)
#   TRIBUTARY_VM_PORT         VictoriaMetrics HTTP port (default 8428; started
#                             only by trib_start_vm / `services.sh up-vm`)
#   TRIBUTARY_SERVICES_TIMEOUT seconds to wait for a service to answer (default 60)

trib_init() {
  TRIB_STATE=${TRIBUTARY_STATE_DIR:-/tmp/tributary-services}
  TRIB_MQTT_PORT=${TRIBUTARY_MQTT_PORT:-1884}
  TRIB_REDIS_PORT=${TRIBUTARY_REDIS_PORT:-6379}
  TRIB_INFLUX_PORT=${TRIBUTARY_INFLUX_PORT:-8086}
  TRIB_INFLUX_RPC_PORT=${TRIBUTARY_INFLUX_RPC_PORT:-8088}
  TRIB_VM_PORT=${TRIBUTARY_VM_PORT:-8428}
  TRIB_TIMEOUT=${TRIBUTARY_SERVICES_TIMEOUT:-60}
  TRIB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  TRIB_DEPLOY_MOSQ_CONF=$TRIB_ROOT/deploy/mosquitto.conf
}
trib_init

trib_log() { printf '[services] %s\n' "$*" >&2; }

# Path of a binary, also looking in the sbin dirs a non-root PATH may lack.
trib_bin() {
  local p
  if p=$(command -v "$1" 2>/dev/null); then printf '%s\n' "$p"; return 0; fi
  for p in /usr/sbin /usr/local/sbin /sbin /usr/bin /bin; do
    if [[ -x $p/$1 ]]; then printf '%s\n' "$p/$1"; return 0; fi
  done
  return 1
}

# ---------------------------------------------------------------- packages --

# Install the Debian packages whose binaries are missing (apt-get update at
# most once). Package maintainer scripts must not start the packaged daemons
# (influxdb's postinst runs `invoke-rc.d influxdb start`, mosquitto's and
# redis's likewise): we start our own instances. Without systemd, invoke-rc.d
# would fall back to the SysV init scripts and grab the ports, so a
# policy-rc.d that denies every start (exit 101) is put in place for the
# duration of the install unless one already exists.
trib_install_missing() {
  local need=() pair bin pkg pairs=("$@")
  # Arguments (binary:package) replace the default set, e.g. victoria-metrics
  # for `services.sh up-vm`: only the tests that use a service install it.
  if [[ ${#pairs[@]} -eq 0 ]]; then
    pairs=(mosquitto:mosquitto mosquitto_pub:mosquitto-clients
      mosquitto_sub:mosquitto-clients redis-server:redis-server
      redis-cli:redis-tools influxd:influxdb influx:influxdb-client
      curl:curl flock:util-linux setsid:util-linux)
  fi
  for pair in "${pairs[@]}"; do
    bin=${pair%%:*} pkg=${pair#*:}
    if ! trib_bin "$bin" >/dev/null; then
      [[ " ${need[*]-} " == *" $pkg "* ]] || need+=("$pkg")
    fi
  done
  [[ ${#need[@]} -eq 0 ]] && return 0

  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); else
      trib_log "missing packages: ${need[*]} (not root and no sudo; install them first)"
      return 1
    fi
  fi
  local policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# temporary, from tributary scripts/lib-services.sh\nexit 101\n' |
      "${sudo[@]}" tee "$policy" >/dev/null && "${sudo[@]}" chmod 755 "$policy" && made_policy=1
  fi
  trib_log "installing: ${need[*]} (log: /tmp/tributary-apt.log)"
  {
    "${sudo[@]}" apt-get update &&
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y \
        --no-install-recommends "${need[@]}"
  } </dev/null >/tmp/tributary-apt.log 2>&1 || rc=$?
  if [[ $made_policy -eq 1 ]]; then "${sudo[@]}" rm -f "$policy"; fi
  if [[ $rc -ne 0 ]]; then
    trib_log "apt-get failed (exit $rc); see /tmp/tributary-apt.log"
    return 1
  fi
}

# ------------------------------------------------------------ health checks --

trib_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Publish one QoS 1 message. A topic starting with '$' is not matched by '#'
# subscriptions, so tests subscribed to '#' never see the health check.
trib_mqtt_ok() {
  local pub
  pub=$(trib_bin mosquitto_pub) || return 1
  # shellcheck disable=SC2016 # literal '$' topic
  trib_port_open "$TRIB_MQTT_PORT" &&
    timeout 5 "$pub" -h 127.0.0.1 -p "$TRIB_MQTT_PORT" -i "tributary-health-$$-$RANDOM" \
      -q 1 -t '$tributary/health' -m ok </dev/null >/dev/null 2>&1
}

trib_redis_ok() {
  local cli out
  cli=$(trib_bin redis-cli) || return 1
  out=$(timeout 5 "$cli" -h 127.0.0.1 -p "$TRIB_REDIS_PORT" ping </dev/null 2>/dev/null) || return 1
  [[ $out == PONG ]]
}

trib_influx_ok() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
    "http://127.0.0.1:$TRIB_INFLUX_PORT/ping" </dev/null 2>/dev/null) || return 1
  [[ $code == 204 ]]
}

# ------------------------------------------------------------------ process --

# name -> expected executable basename (guards against recycled PIDs)
trib_exe_of() {
  case $1 in
    mosquitto) echo mosquitto ;;
    redis) echo redis-server ;;
    influxdb) echo influxd ;;
    victoria-metrics*) echo victoria-metrics ;;
    *) return 1 ;;
  esac
}

# True if PID runs (not a zombie) the expected binary.
trib_pid_matches() {
  local pid=$1 exe=$2 state cmd
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ $state != Z && $state != X ]] || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  cmd=${cmd%% *}
  [[ ${cmd##*/} == "$exe" ]]
}

# Print the PID of the instance of <name> this script started; non-zero if
# there is none (never started, exited, or the PID now belongs to another program).
trib_pid() {
  local name=$1 f pid exe
  f=$TRIB_STATE/$name.pid
  exe=$(trib_exe_of "$name") || return 1
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  trib_pid_matches "$pid" "$exe" || return 1
  printf '%s\n' "$pid"
}

# trib_spawn <name> <cmd...>: start cmd detached (new session, stdin from
# /dev/null, stdout+stderr appended to $TRIB_STATE/<name>.log, every other fd
# closed so nothing keeps the caller's pipes or locks open) and record its PID.
trib_spawn() {
  local name=$1 pidf i; shift
  pidf=$TRIB_STATE/$name.pid
  rm -f "$pidf"
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid -f bash -c '
    pidf=$1; shift
    for fd in /proc/$$/fd/*; do
      fd=${fd##*/}
      if [[ $fd =~ ^[0-9]+$ ]] && (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    echo $$ >"$pidf.tmp" && mv -f "$pidf.tmp" "$pidf"
    exec "$@"' tributary-spawn "$pidf" "$@" \
    </dev/null >>"$TRIB_STATE/$name.log" 2>&1
  for ((i = 0; i < 50; i++)); do
    [[ -s $pidf ]] && return 0
    sleep 0.1
  done
  trib_log "$name: no PID recorded after spawn; see $TRIB_STATE/$name.log"
  return 1
}

# trib_wait <name> <checkfn> [seconds]: poll until checkfn succeeds. Gives up
# early if the process we started has exited.
trib_wait() {
  local name=$1 check=$2 secs=${3:-$TRIB_TIMEOUT} deadline
  deadline=$((SECONDS + secs))
  while ((SECONDS < deadline)); do
    if "$check"; then return 0; fi
    if ! trib_pid "$name" >/dev/null; then
      sleep 0.3
      if "$check"; then return 0; fi
      trib_log "$name: process exited during startup; see log $TRIB_STATE/$name.log"
      tail -n 15 "$TRIB_STATE/$name.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.2
  done
  trib_log "$name: not answering after ${secs}s; see log $TRIB_STATE/$name.log"
  tail -n 15 "$TRIB_STATE/$name.log" >&2 2>/dev/null || true
  return 1
}

# trib_stop <name> [seconds]: SIGTERM the instance we started (SIGCONT first,
# in case it is paused), wait, SIGKILL if it ignores TERM. Data is kept.
# Returns 2 if we have no running instance of <name>.
trib_stop() {
  local name=$1 secs=${2:-30} pid deadline exe
  exe=$(trib_exe_of "$name") || return 1
  if ! pid=$(trib_pid "$name"); then
    rm -f "$TRIB_STATE/$name.pid"
    return 2
  fi
  kill -TERM "$pid" 2>/dev/null || true
  kill -CONT "$pid" 2>/dev/null || true
  deadline=$((SECONDS + secs))
  while trib_pid_matches "$pid" "$exe" && ((SECONDS < deadline)); do sleep 0.1; done
  if trib_pid_matches "$pid" "$exe"; then
    trib_log "$name: pid $pid ignored SIGTERM for ${secs}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while trib_pid_matches "$pid" "$exe"; do sleep 0.1; done
  fi
  rm -f "$TRIB_STATE/$name.pid"
  trib_log "$name: stopped pid $pid"
}

# ------------------------------------------------------------------ configs --

# Broker config = deploy/mosquitto.conf with the listener bound to loopback on
# our port, persistence under the state dir and logging to a file.
trib_gen_mosquitto_conf() {
  local out=$TRIB_STATE/mosquitto.conf data=$TRIB_STATE/mosquitto/
  mkdir -p "$data"
  [[ -f $TRIB_DEPLOY_MOSQ_CONF ]] || { trib_log "missing $TRIB_DEPLOY_MOSQ_CONF"; return 1; }
  {
    echo "# GENERATED by scripts/services.sh from deploy/mosquitto.conf -- do not edit"
    if [[ $(id -u) -eq 0 ]]; then
      echo "# running as root: do not drop privileges (the state dir belongs to root)"
      echo "user root"
    fi
    awk -v port="$TRIB_MQTT_PORT" '
      BEGIN { done = 0 }
      $1 == "listener" {
        if (!done) { print "listener " port " 127.0.0.1"; done = 1 }
        next
      }
      $1 ~ /^(port|bind_address|bind_interface|persistence|persistence_location|persistence_file|log_dest|pid_file|user)$/ { next }
      { print }
      END { if (!done) print "listener " port " 127.0.0.1" }
    ' "$TRIB_DEPLOY_MOSQ_CONF"
    echo
    echo "# --- local overrides ---"
    echo "persistence true"
    echo "persistence_location $data"
    echo "log_dest file $TRIB_STATE/mosquitto.log"
  } >"$out.tmp"
  mv -f "$out.tmp" "$out"
}

trib_gen_influx_conf() {
  local out=$TRIB_STATE/influxdb.conf d=$TRIB_STATE/influxdb
  mkdir -p "$d/meta" "$d/data" "$d/wal"
  cat >"$out.tmp" <<EOF
# GENERATED by scripts/services.sh -- InfluxDB 1.x, loopback only, state under $d
reporting-enabled = false
# backup/restore RPC service; defaults to all interfaces unless bound here
bind-address = "127.0.0.1:$TRIB_INFLUX_RPC_PORT"

[meta]
  dir = "$d/meta"
  logging-enabled = false

[data]
  dir = "$d/data"
  wal-dir = "$d/wal"
  query-log-enabled = false

[monitor]
  # no _internal database: avoids a background write every 10 s on a small box
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:$TRIB_INFLUX_PORT"
  auth-enabled = false
  log-enabled = false
  unix-socket-enabled = false

[ifql]
  enabled = false
  bind-address = "127.0.0.1:8082"

[continuous_queries]
  log-enabled = false

[logging]
  level = "warn"
  suppress-logo = true
EOF
  mv -f "$out.tmp" "$out"
}

# ---------------------------------------------------------------- services --

# trib_start_service <name> <label> <port> <checkfn> <startfn>
# Shared logic: skip if it answers; if our process is alive but not answering
# (starting, or paused with SIGSTOP) wait for it instead of starting a second.
trib_start_service() {
  local name=$1 label=$2 port=$3 check=$4 startfn=$5 pid
  mkdir -p "$TRIB_STATE"
  if "$check"; then return 0; fi
  if pid=$(trib_pid "$name"); then
    if [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == T ]]; then
      trib_log "$label: our pid $pid is stopped (SIGSTOP); not starting another (resume it or stop it)"
      return 1
    fi
    trib_log "$label: our pid $pid is running but not answering yet; waiting"
    trib_wait "$name" "$check"
    return
  fi
  if trib_port_open "$port"; then
    trib_log "$label: 127.0.0.1:$port is taken by something that does not answer as $label"
    return 1
  fi
  "$startfn" || return 1
  trib_wait "$name" "$check" || return 1
  trib_log "$label: started pid $(trib_pid "$name" || echo '?') on 127.0.0.1:$port"
}

_trib_spawn_broker() {
  local bin
  bin=$(trib_bin mosquitto) || { trib_log "mosquitto not installed"; return 1; }
  trib_gen_mosquitto_conf || return 1
  trib_spawn mosquitto "$bin" -c "$TRIB_STATE/mosquitto.conf"
}

_trib_spawn_redis() {
  local bin
  bin=$(trib_bin redis-server) || { trib_log "redis-server not installed"; return 1; }
  mkdir -p "$TRIB_STATE/redis"
  trib_spawn redis "$bin" --bind 127.0.0.1 --port "$TRIB_REDIS_PORT" \
    --protected-mode yes --daemonize no --dir "$TRIB_STATE/redis" \
    --appendonly yes --save '' --maxmemory-policy noeviction --logfile ''
}

_trib_spawn_influx() {
  local bin unset=() v
  bin=$(trib_bin influxd) || { trib_log "influxd not installed"; return 1; }
  trib_gen_influx_conf || return 1
  # influxd lets INFLUXDB_<SECTION>_<KEY> variables override the config file.
  while IFS= read -r v; do unset+=(-u "$v"); done < <(compgen -e | grep '^INFLUXDB_' || true)
  trib_spawn influxdb env "${unset[@]}" "$bin" -config "$TRIB_STATE/influxdb.conf"
}

trib_start_broker() { trib_start_service mosquitto mosquitto "$TRIB_MQTT_PORT" trib_mqtt_ok _trib_spawn_broker; }
trib_start_redis() { trib_start_service redis redis "$TRIB_REDIS_PORT" trib_redis_ok _trib_spawn_redis; }
trib_start_influx() { trib_start_service influxdb influxdb "$TRIB_INFLUX_PORT" trib_influx_ok _trib_spawn_influx; }

# stop/restart: only instances we started. Exit 2 = nothing of ours to act on.
_trib_stop_ours() {
  local name=$1 rc=0
  trib_stop "$name" || rc=$?
  if [[ $rc -eq 2 ]]; then trib_log "$name: no running instance started by this script; nothing stopped"; fi
  return $rc
}
trib_stop_broker() { _trib_stop_ours mosquitto; }
trib_stop_redis() { _trib_stop_ours redis; }
trib_stop_influx() { _trib_stop_ours influxdb; }

trib_restart_broker() { trib_stop_broker && trib_start_broker; }
trib_restart_influx() { trib_stop_influx && trib_start_influx; }

_trib_signal_ours() {
  local name=$1 sig=$2 pid
  if ! pid=$(trib_pid "$name"); then
    trib_log "$name: no running instance started by this script"
    return 2
  fi
  kill -"$sig" "$pid"
  trib_log "$name: sent SIG$sig to pid $pid"
}
trib_pause_influx() { _trib_signal_ours influxdb STOP; }
trib_resume_influx() { _trib_signal_ours influxdb CONT; }
trib_pause_broker() { _trib_signal_ours mosquitto STOP; }
trib_resume_broker() { _trib_signal_ours mosquitto CONT; }
# Ask our broker to write its persistence database now (SIGUSR1).
trib_save_broker() { _trib_signal_ours mosquitto USR1; }

# --------------------------------------------------------- VictoriaMetrics --
# Not part of `up`: started by the tests that need it (services.sh up-vm), and
# installed then (Debian's victoria-metrics; policy-rc.d keeps its own daemon
# down). Each instance is named victoria-metrics[-suffix]: PID file, log and
# data dir (-storageDataPath) <state>/<name>; loopback only.

_TRIB_VM_NAME='' _TRIB_VM_PORT='' _TRIB_VM_FLAGS=()

trib_vm_ok() {
  local out
  out=$(curl -s --max-time 5 "http://127.0.0.1:$_TRIB_VM_PORT/health" </dev/null 2>/dev/null) || return 1
  [[ $out == OK ]]
}

_trib_spawn_vm() {
  local bin
  bin=$(trib_bin victoria-metrics) || { trib_log "victoria-metrics not installed"; return 1; }
  mkdir -p "$TRIB_STATE/$_TRIB_VM_NAME"
  # 100y retention: tests write points with fixed past timestamps, which a
  # shorter retention would drop silently.
  trib_spawn "$_TRIB_VM_NAME" "$bin" -httpListenAddr "127.0.0.1:$_TRIB_VM_PORT" \
    -storageDataPath "$TRIB_STATE/$_TRIB_VM_NAME" -retentionPeriod 100y \
    -memory.allowedBytes 256MiB -loggerLevel WARN "${_TRIB_VM_FLAGS[@]}"
}

# trib_start_vm [name [port [flag...]]]: install if missing, then start the
# instance unless something answers /health on the port (idempotent). Extra
# flags (e.g. -httpAuth.username=u) apply only when it is started here.
trib_start_vm() {
  _TRIB_VM_NAME=${1:-victoria-metrics} _TRIB_VM_PORT=${2:-$TRIB_VM_PORT}
  _TRIB_VM_FLAGS=("${@:3}")
  [[ $_TRIB_VM_NAME =~ ^victoria-metrics(-[A-Za-z0-9_.-]+)?$ ]] || { trib_log "VictoriaMetrics instance name must be victoria-metrics[-suffix]: $_TRIB_VM_NAME"; return 1; }
  [[ $_TRIB_VM_PORT =~ ^[0-9]+$ ]] || { trib_log "bad VictoriaMetrics port: $_TRIB_VM_PORT"; return 1; }
  trib_install_missing victoria-metrics:victoria-metrics curl:curl setsid:util-linux || return 1
  trib_start_service "$_TRIB_VM_NAME" "$_TRIB_VM_NAME" "$_TRIB_VM_PORT" trib_vm_ok _trib_spawn_vm
}

# trib_stop_vm [name] [--purge]: stop our instance; --purge deletes its data.
trib_stop_vm() {
  local name=${1:-victoria-metrics} rc=0
  [[ $name =~ ^victoria-metrics(-[A-Za-z0-9_.-]+)?$ ]] || { trib_log "not a VictoriaMetrics instance name: $name"; return 1; }
  _trib_stop_ours "$name" || rc=$?
  if [[ ${2:-} == --purge ]]; then rm -rf "${TRIB_STATE:?}/$name" "$TRIB_STATE/$name.log"; fi
  [[ $rc -eq 2 ]] && return 0
  return $rc
}

# One line per service; non-zero if any does not answer.
trib_status() {
  local rc=0 entry name port check who pid state
  for entry in "mosquitto:$TRIB_MQTT_PORT:trib_mqtt_ok" "redis:$TRIB_REDIS_PORT:trib_redis_ok" \
    "influxdb:$TRIB_INFLUX_PORT:trib_influx_ok"; do
    IFS=: read -r name port check <<<"$entry"
    who=external
    if pid=$(trib_pid "$name"); then
      who="ours, pid $pid"
      state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
      [[ $state == T ]] && who="$who, PAUSED"
    fi
    if "$check"; then
      printf '%-9s up    127.0.0.1:%s (%s)\n' "$name" "$port" "$who"
    else
      [[ $who == external ]] && who="not running"
      printf '%-9s DOWN  127.0.0.1:%s (%s; log %s)\n' "$name" "$port" "$who" "$TRIB_STATE/$name.log"
      rc=1
    fi
  done
  for pid in "$TRIB_STATE"/victoria-metrics*.pid; do # started on demand: listed only while ours runs
    [[ -e $pid ]] || continue
    name=${pid##*/} && name=${name%.pid}
    pid=$(trib_pid "$name") && printf '%-9s up    (ours, pid %s; log %s)\n' "$name" "$pid" "$TRIB_STATE/$name.log"
  done
  return $rc
}

trib_up() {
  local rc=0
  trib_install_missing || return 1
  mkdir -p "$TRIB_STATE"
  trib_start_broker || rc=1
  trib_start_redis || rc=1
  trib_start_influx || rc=1
  trib_status || rc=1
  return $rc
}

# Stops only what we started; data stays unless purge=1.
trib_down() {
  local purge=${1:-0} name
  for name in mosquitto redis influxdb; do
    trib_stop "$name" || [[ $? -eq 2 ]] || return 1
  done
  for name in "$TRIB_STATE"/victoria-metrics*.pid; do # instances of trib_start_vm
    [[ -e $name ]] || continue
    name=${name##*/} && trib_stop "${name%.pid}" || [[ $? -eq 2 ]] || return 1
  done
  if [[ $purge -eq 1 ]]; then
    rm -rf "${TRIB_STATE:?}/mosquitto" "${TRIB_STATE:?}/redis" "${TRIB_STATE:?}/influxdb" "${TRIB_STATE:?}"/victoria-metrics*/
    trib_log "purged data under $TRIB_STATE"
  fi
}
