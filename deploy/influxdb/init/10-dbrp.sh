#!/bin/bash
# Runs once, when the influxdb:2.x image initialises an empty volume (DOCKER_INFLUXDB_INIT_MODE=setup):
# the entrypoint runs executable *.sh files in /docker-entrypoint-initdb.d after `influx setup`,
# with the influx CLI already configured (host, org, admin token) and the new bucket's id in
# DOCKER_INFLUXDB_INIT_BUCKET_ID.
#
# Maps InfluxQL database "<bucket>" / retention policy "autogen" to the bucket, so Grafana's
# InfluxQL datasource (dbName: telemetry) and any 1.x-API client can read it. InfluxDB 2.7 would
# also answer through a read-only "virtual" mapping of the same name; the explicit one is visible
# in `influx v1 dbrp list` and can be changed.
#
# On a volume that was initialised before this script existed, run it by hand:
#   docker compose exec influxdb sh -c 'influx v1 dbrp create --db telemetry --rp autogen --default \
#     --bucket-id "$(influx bucket list -n telemetry --hide-headers | cut -f1)"'
set -euo pipefail

db=${DOCKER_INFLUXDB_INIT_BUCKET}
# Not fatal: a failed init script makes the image wipe the new volume and exit, and InfluxDB 2.7's
# virtual mapping already serves the same database name.
if influx v1 dbrp create --db "$db" --rp autogen --default \
  --bucket-id "$DOCKER_INFLUXDB_INIT_BUCKET_ID" --org "$DOCKER_INFLUXDB_INIT_ORG"; then
  echo "dbrp: mapped $db/autogen -> bucket $DOCKER_INFLUXDB_INIT_BUCKET ($DOCKER_INFLUXDB_INIT_BUCKET_ID)"
else
  echo "dbrp: could not create the explicit mapping for $db/autogen; InfluxQL relies on the virtual one" >&2
fi
