#!/usr/bin/env bash
# scripts/services.sh -- local services for Tributary's tests, demo and bench.
#
#   up              install missing Debian packages, then make sure these answer:
#                     Mosquitto  127.0.0.1:${TRIBUTARY_MQTT_PORT:-1884}  (config derived from
#                                deploy/mosquitto.conf, persistence on)
#                     Redis      127.0.0.1:${TRIBUTARY_REDIS_PORT:-6379}
#                     InfluxDB   127.0.0.1:${TRIBUTARY_INFLUX_PORT:-8086} (1.x)
#                   A service that already answers is used as is; only missing ones are
#                   started (detached, PID recorded in the state dir). Idempotent.
#   down [--purge]  stop what this script started (by recorded PID); --purge also
#                   deletes their data. Services it did not start are left alone.
#   status          one line per service; non-zero if any is down
#   start-broker | stop-broker | restart-broker | pause-broker | resume-broker | save-broker
#   start-influx | stop-influx | restart-influx | pause-influx | resume-influx
#   start-redis  | stop-redis
#                   stop/restart/pause/resume act only on instances this script started;
#                   data is kept, so a restart comes back with the same data
#                   (broker: persistent sessions and queued messages; save-broker
#                   = SIGUSR1, write the broker's persistence file now).
#   up-vm [name [port [flag...]]]
#                   VictoriaMetrics (not started by `up`; tests that need it call
#                   this): installs Debian's victoria-metrics if missing, starts
#                   instance <name> (default victoria-metrics, must start with it)
#                   on 127.0.0.1:<port> (default ${TRIBUTARY_VM_PORT:-8428}), data in
#                   the state dir's <name>/, extra flags passed on. Idempotent.
#   stop-vm [name] [--purge]   stop our instance; --purge deletes its data
#   pid <mosquitto|redis|influxdb|victoria-metrics[-…]>   print the PID of our instance (non-zero if none)
#   install         only install missing packages
#
# State dir: ${TRIBUTARY_STATE_DIR:-/tmp/tributary-services} (generated configs,
# *.pid, *.log, data). See scripts/lib-services.sh for the functions and env knobs.
set -euo pipefail

# shellcheck source=scripts/lib-services.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-services.sh"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

cmd=${1:-}
[[ -n $cmd ]] || usage
shift

# Serialise everything that starts or stops services, so two concurrent
# `npm test` runs cannot both start a broker on the same port. fd 9 is closed
# in every spawned daemon (trib_spawn), so the lock dies with this process.
lock() {
  mkdir -p "$TRIB_STATE"
  exec 9>"$TRIB_STATE/.lock"
  if ! flock -w 300 9; then
    trib_log "could not get $TRIB_STATE/.lock within 300 s"
    exit 1
  fi
}

case $cmd in
  up) lock; trib_up ;;
  down)
    lock
    purge=0
    [[ ${1:-} == --purge ]] && purge=1
    trib_down "$purge"
    trib_status || true
    ;;
  status) trib_status ;;
  install) lock; trib_install_missing ;;
  start-broker) lock; trib_start_broker ;;
  stop-broker) lock; trib_stop_broker ;;
  restart-broker) lock; trib_restart_broker ;;
  pause-broker) trib_pause_broker ;;
  resume-broker) trib_resume_broker ;;
  save-broker) trib_save_broker ;;
  start-influx) lock; trib_start_influx ;;
  stop-influx) lock; trib_stop_influx ;;
  restart-influx) lock; trib_restart_influx ;;
  pause-influx) trib_pause_influx ;;
  resume-influx) trib_resume_influx ;;
  start-redis) lock; trib_start_redis ;;
  stop-redis) lock; trib_stop_redis ;;
  up-vm) lock; trib_start_vm "$@" ;;
  stop-vm) lock; trib_stop_vm "$@" ;;
  pid)
    case ${1:-} in
      mosquitto | broker) trib_pid mosquitto ;;
      redis) trib_pid redis ;;
      influxdb | influx) trib_pid influxdb ;;
      victoria-metrics*) trib_pid "$1" ;;
      *) usage ;;
    esac
    ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
